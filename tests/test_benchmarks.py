"""The benchmark scripts still run: each on tiny data on the CPU, with its output's shape checked.

They are run by hand (and on the GPU machine) rather than in CI, so a change in the package
could break one unnoticed until the next measurement: `predict.py --identity` did once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from isonet2.cli import run
from isonet2.io.mrc import read_volume
from isonet2.io.star import read_star, write_star

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def bench(*words: str, cwd: Path | None = None) -> str:
    """stdout of `python benchmarks/WORDS...` on one CPU thread; fails on a non-zero exit."""
    return python(str(BENCHMARKS / words[0]), *words[1:], cwd=cwd)


def python(*words: str, cwd: Path | None = None) -> str:
    """stdout of `python WORDS...` on one CPU thread; fails on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, *words],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES=""),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def last_json(text: str) -> dict[str, object]:
    return json.loads(text.strip().splitlines()[-1])


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), BENCHMARKS / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one simulated 64³ tomogram (sim/), its star and a fresh unet-small model."""
    folder = tmp_path_factory.mktemp("bench")
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        assert run(["simulate", "-o", "sim", "--shape", "64,64,64", "--ntomos", "1"]) == 0
    finally:
        os.chdir(cwd)
    load_script("predict.py")._write_checkpoint(folder / "model.pt", "unet-small", 32, "isonet2")
    return folder


@pytest.mark.parametrize("variant", [[], ["--identity"], ["--halves"], ["--default_layout"]])
def test_predict_benchmark(variant: list[str]) -> None:
    words = ["--shape", "24,48,48", "--arch", "unet-small", "--cube", "32", "--device", "cpu"]
    result = last_json(bench("predict.py", *words, *variant))
    assert result["shape"] == [24, 48, 48] and result["inputs"] == (
        2 if variant == ["--halves"] else 1
    )
    assert result["network"] == ("identity" if variant == ["--identity"] else "unet-small")
    assert result["channels_last"] is (variant != ["--default_layout"])
    assert float(result["seconds"]) > 0 and 0 < float(result["peak_rss_gib"]) < 4  # type: ignore[arg-type]


def test_train_throughput_benchmark() -> None:
    words = [
        "--arch",
        "unet-small",
        "--cube",
        "32",
        "--batch",
        "2",
        "--warmup",
        "1",
        "--steps",
        "2",
    ]
    result = last_json(bench("train_throughput.py", *words))
    assert result["device"] == "cpu" and result["cube"] == 32 and result["batch_per_device"] == 2
    assert float(result["subtomos_per_s"]) > 0  # type: ignore[arg-type]


def test_preprocess_benchmark() -> None:
    text = bench("preprocess.py", "--shape", "24,48,48", "--chunk_size", "16", "--ncpus", "1")
    steps = [line.split()[0] for line in text.splitlines()[1:] if line[:1].isalpha()]
    assert {"deconv", "make_mask"} <= set(steps)
    error = float(text.split("relative L2 error")[1].split()[0])
    assert 0 <= error < 0.05  # chunks agree with the whole volume


def test_simulate_benchmark() -> None:
    text = bench("simulate.py", "--shape", "64,64,64")
    assert "simulate cell (64, 64, 64) seed 0:" in text and "peak RSS" in text


def test_z_profile_benchmark(simulated: Path) -> None:
    text = bench(
        "z_profile.py", "sim/ground_truth/sim_01.mrc", "sim/full/sim_01.mrc", cwd=simulated
    )
    lines = text.splitlines()
    assert lines[0].startswith("sim_01.mrc: the truth without its Z-profile scores")
    assert lines[3].split()[:2] == ["r", "+1.00"]  # the truth's profile against itself
    assert lines[4] == "sim_01.mrc" and lines[5].split()[0] == "r"


def test_bn_adapt_benchmark(simulated: Path) -> None:
    star = "sim/tomograms.star"
    words = [star, "model.pt", "adapted.pt", "--input_column", "rlnTomoName", "--tiles", "4"]
    text = bench("bn_adapt.py", *words, "--batch_size", "2", cwd=simulated)
    assert "norms re-estimated" in text and (simulated / "adapted.pt").is_file()


def test_shift_tta_benchmark(simulated: Path) -> None:
    words = ["sim/tomograms.star", "model.pt", "st", "--ground_truth", "sim/ground_truth"]
    predict = ["--", "--input_column", "rlnTomoName", "--batch_size", "2"]
    text = bench("shift_tta.py", *words, "--count", "2", "--shift", "8", *predict, cwd=simulated)
    assert [line.split(":")[0] for line in text.splitlines() if line.startswith("shifts")] == [
        "shifts 1",
        "shifts 2",
    ]
    name = "sim_01_isonet2_unet-small.mrc"
    plain = read_volume(simulated / "st" / "shift_0_0_0" / "corrected" / name)
    shifted = read_volume(simulated / "st" / "shift_8_8_8" / "corrected" / name)
    assert plain.shape == (64, 64, 64) and shifted.shape == (72, 72, 72)  # padded, then cropped
    assert np.array_equal(read_volume(simulated / "st" / "average_1" / "maps" / name), plain)
    both = read_volume(simulated / "st" / "average_2" / "maps" / name)
    assert np.allclose(both, (plain + shifted[8:, 8:, 8:]) / 2, atol=1e-6)


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.sh")))
def test_shell_scripts_parse(script: str) -> None:
    done = subprocess.run(["bash", "-n", str(BENCHMARKS / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_predict_variant_benchmark(simulated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale 1 is predict itself; another scale (and float32) changes the map."""
    name = "sim_01_isonet2_unet-small.mrc"
    flags = ["--input_column", "rlnTomoName", "--batch_size", "2"]
    maps = {}
    for label, variant in (("same", []), ("scaled", ["--input_scale", "0.5", "--fp32"])):
        words = [*variant, "--", "sim/tomograms.star", "model.pt", "--outputdir", label]
        bench("predict_variant.py", *words, *flags, cwd=simulated)
        maps[label] = read_volume(simulated / label / name)
    monkeypatch.chdir(simulated)  # the star's paths are relative to its folder
    assert run(["predict", "sim/tomograms.star", "model.pt", "--outputdir", "plain", *flags]) == 0
    plain = read_volume(simulated / "plain" / name)
    assert np.array_equal(maps["same"], plain)
    assert maps["scaled"].shape == plain.shape and not np.allclose(maps["scaled"], plain)


def test_train_variant_benchmark(simulated: Path) -> None:
    """Unchanged it is refine itself (same seed, same weights); each change gives other weights."""
    flags = "--epochs 1 --cube_size 32 --arch unet-small --batch_size 2 --ncpus 0"
    flags += " --with_preview False --mixed_precision False --seed 3"
    table = read_star(simulated / "sim" / "tomograms.star")
    for row in table.rows:
        row.number_subtomos = 4
    write_star(table, simulated / "small.star")
    weights, said = {}, {}
    for label, variant in (
        ("plain", None),
        ("same", []),
        ("noise", ["--noise_scale", "0"]),
        ("decay", ["--weight_decay", "5"]),
        ("clip", ["--clip_grad_norm", "1e-3"]),
    ):
        line = ["small.star", "-o", f"train_{label}", *flags.split()]  # beside predict's
        if variant is None:  # the command itself, in a process like the benchmark's
            python("-m", "isonet2", "refine", *line, cwd=simulated)
        else:
            said[label] = bench("train_variant.py", *variant, "--", *line, cwd=simulated)
        (checkpoint,) = (simulated / f"train_{label}").glob("network_*_full.pt")
        weights[label] = torch.load(checkpoint, map_location="cpu")["model_state"]
    for label in ("same", "noise", "decay", "clip"):
        equal = all(torch.equal(weights["plain"][k], weights[label][k]) for k in weights["plain"])
        assert equal is (label == "same"), label
    # every step's norm is far above 1e-3
    assert "before clipping over" in said["clip"] and "clipped to 0.001 in 100.0 %" in said["clip"]
    assert "gradient 2-norm" not in said["decay"]
