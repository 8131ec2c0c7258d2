"""refine and denoise end to end on a tiny project: the tutorial's lines, resume, bad input."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_distributed import child_processes
from tutorial_lines import isonet

from isonet2.cli import run
from isonet2.config import RefineConfig
from isonet2.config.argv import parse_command_line
from isonet2.io.checkpoint import load_checkpoint
from isonet2.io.star import read_star, write_star
from isonet2.io.stopsignals import StopSignal
from isonet2.pipeline.training import warn_ignored_flags
from isonet2.targets.augment import Mirrored

# tests add only a short run and a small cube to the tutorial's lines (plus a small network
# and no data-loading workers, to stay fast on 2 CPU cores)
SMALL = "--cube_size 32 --arch unet-small --ncpus 0"
FAST = f"--epochs 1 {SMALL}"


def test_refine_ctf_network(train_project: Path) -> None:
    assert isonet(f"isonet.py refine tomograms.star -o 01_test --CTF_mode network {FAST}") == 0
    out = train_project / "01_test"
    ckpt = load_checkpoint(out / "network_isonet2-n2n_unet-small_32_full.pt")
    assert ckpt["method"] == "isonet2-n2n" and ckpt["epoch"] == 1
    assert ckpt["physics"]["ctf_mode"] == "network"
    assert (out / "loss_full.png").stat().st_size > 0
    recorded = json.loads((out / "refine_config.json").read_text())
    assert recorded["parameters"]["mw_weight"] == 5.0  # the resolved default, not "unset"
    assert ckpt["config"]["mw_weight"] == 5.0
    assert "epoch 1/1" in (out / "log.txt").read_text()
    assert list((out / "preview").glob("*_epoch1.png"))


def test_fsc_weight_and_train_mirrors_reach_the_training(
    train_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import isonet2.targets.noise2noise as noise2noise
    import isonet2.train.trainer as trainer

    asked: list[tuple[str, float]] = []
    real = trainer.get_base_loss

    def spy(name: str, fsc_weight: float = 1.0) -> object:
        asked.append((name, fsc_weight))
        return real(name, fsc_weight)

    drawn: list[object] = []
    real_draw = noise2noise.draw_rotation

    def spy_draw(weight: float, generator: torch.Generator, *, mirrors: bool = False) -> object:
        drawn.append(real_draw(weight, generator, mirrors=mirrors))
        return drawn[-1]

    monkeypatch.setattr(trainer, "get_base_loss", spy)
    monkeypatch.setattr(noise2noise, "draw_rotation", spy_draw)
    flags = f"--loss_func L2+FSC --fsc_weight 3 --train_mirrors True --seed 3 {FAST}"
    assert isonet(f"isonet.py refine tomograms.star -o w {flags}") == 0
    assert asked == [("L2+FSC", 3.0)]
    assert any(isinstance(rotation, Mirrored) for rotation in drawn), drawn
    recorded = json.loads((train_project / "w" / "refine_config.json").read_text())
    assert recorded["parameters"]["fsc_weight"] == 3.0
    assert recorded["parameters"]["train_mirrors"] is True


def test_refine_noise_level_picks_single_map(train_project: Path) -> None:
    assert isonet(f"isonet.py refine tomograms.star -o 01_test --noise_level 0.2 {FAST}") == 0
    ckpt = load_checkpoint(train_project / "01_test" / "network_isonet2_unet-small_32_full.pt")
    assert ckpt["method"] == "isonet2"
    assert "noise 0.2  " in (train_project / "01_test" / "log.txt").read_text()


def test_noise_level_on_halves_only_is_ignored_with_a_warning(
    halves_only: Path, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = "--with_preview False"
    line = f"isonet.py refine tomograms.star -o 01_test --noise_level 0.2 {FAST} {quiet}"
    assert isonet(line) == 0
    assert (halves_only / "01_test" / "network_isonet2-n2n_unet-small_32_full.pt").is_file()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and warned[0].startswith("--noise_level is ignored: tomograms.star")
    log = (halves_only / "01_test" / "log.txt").read_text()
    assert "--noise_level is ignored" in log and "  noise " not in log
    # the record holds what was trained (no noise), and the same line continues the run
    line = (
        f"isonet.py refine tomograms.star -o 01_test --noise_level 0.2 {SMALL} --epochs 2 {quiet}"
    )
    assert isonet(line) == 0
    assert not (halves_only / "01_test" / "earlier_run_1").exists()


def test_denoise_wiener(train_project: Path, caplog: pytest.LogCaptureFixture) -> None:
    table = read_star("tomograms.star")
    table.rows[1].defocus_angstrom = 0.0  # as prepare_star writes it without --defocus
    write_star(table, "tomograms.star")
    assert isonet(f"isonet.py denoise tomograms.star -o 03_test --CTF_mode wiener {FAST}") == 0
    ckpt = load_checkpoint(train_project / "03_test" / "network_n2n_unet-small_32_full.pt")
    assert ckpt["method"] == "n2n" and ckpt["physics"]["ctf_mode"] == "wiener"
    warnings = [r.message for r in caplog.records if "no defocus" in r.getMessage()]
    assert len(warnings) == 1
    assert caplog.text.count("--CTF_mode wiener: rows [2] of tomograms.star has no defocus") == 1


def test_no_defocus_warning_without_a_ctf_mode(caplog: pytest.LogCaptureFixture) -> None:
    from isonet2.config import RefineConfig
    from isonet2.io.star import StarTable, TomogramRow
    from isonet2.pipeline.training import warn_without_defocus

    table = StarTable(rows=[TomogramRow(index=1, defocus_angstrom=0.0)])
    warn_without_defocus(table, RefineConfig(star_file="t.star"))
    assert "no defocus" not in caplog.text
    warn_without_defocus(table, RefineConfig(star_file="t.star", CTF_mode="phase_only"))
    assert "--CTF_mode phase_only: every row of t.star has no defocus" in caplog.text


def test_gpu_id_on_a_machine_without_gpu_warns_and_trains(
    train_project: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = "isonet.py refine tomograms.star --outputdir results --gpuID 0 --epochs 2"
    assert isonet(f"{line} --cube_size 32 --arch unet-small --ncpus 0 --with_preview False") == 0
    assert "has none; running on the CPU" in caplog.text
    # given before log.txt was opened, the warning is in it too, once, before the training
    log = (train_project / "results" / "log.txt").read_text()
    assert log.count("has none; running on the CPU") == 1
    assert log.index("has none; running on the CPU") < log.index("training isonet2-n2n")
    assert "2 epochs x 2 steps of 4 subtomograms" in log
    assert (
        load_checkpoint(train_project / "results" / "network_isonet2-n2n_unet-small_32_full.pt")[
            "epoch"
        ]
        == 2
    )


def test_an_in_process_refine_leaves_no_loader_worker_behind(train_project: Path) -> None:
    """Data-loading workers end with their epoch, not at some later garbage collection."""
    line = f"isonet.py refine tomograms.star -o w --epochs 2 {SMALL} --with_preview False"
    assert isonet(line.replace("--ncpus 0", "--ncpus 1")) == 0
    assert child_processes() == []


def test_compile_on_the_cpu_warns_and_trains(
    train_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert isonet(f"isonet.py refine tomograms.star -o c {FAST} --compile True") == 0
    assert "--compile applies to GPUs only" in caplog.text
    ckpt = load_checkpoint(train_project / "c" / "network_isonet2-n2n_unet-small_32_full.pt")
    assert ckpt["epoch"] == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
# torch.compile's own imports warn that torch.jit.script_method is deprecated (torch 2.11)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_refine_on_the_gpu_saves_plain_weights(train_project: Path) -> None:
    line = f"isonet.py refine tomograms.star -o c --gpuID 0 --epochs 2 {SMALL} --compile True"
    assert isonet(line) == 0
    ckpt = load_checkpoint(train_project / "c" / "network_isonet2-n2n_unet-small_32_full.pt")
    assert ckpt["epoch"] == 2
    assert not any(key.startswith("_orig_mod") for key in ckpt["model_state"])
    assert all(np.isfinite(epoch["loss"]) for epoch in ckpt["metrics"]["history"])


def one_step_epochs(preview: bool = False) -> str:
    """Make every epoch a single step of 2 cubes, for tests that run many epochs (or whose
    epochs' length adds nothing); previews only where the test is about them."""
    table = read_star("tomograms.star")
    for row in table.rows:
        row.number_subtomos = 1
    write_star(table, "tomograms.star")
    return f"{SMALL} --batch_size 2 --with_preview {preview}"


def test_warmup_epochs_reach_the_learning_rate_schedule(
    train_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import isonet2.train.trainer as trainer

    calls: list[tuple[Any, ...]] = []
    real = trainer.cosine_learning_rate

    def spy(*args: Any) -> float:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(trainer, "cosine_learning_rate", spy)
    flags = f"{one_step_epochs()} --epochs 3 --warmup_epochs 2"
    assert isonet(f"isonet.py refine tomograms.star -o w {flags}") == 0
    # one step an epoch: two warm-up steps, at half and then all of the cosine's rate
    assert [(call[0], call[1], call[4]) for call in calls] == [(0, 3, 2), (1, 3, 2), (2, 3, 2)]
    final = load_checkpoint(train_project / "w" / "network_isonet2-n2n_unet-small_32_full.pt")
    rates = [record["learning_rate"] for record in final["metrics"]["history"]]
    assert rates == pytest.approx([3e-4 / 2, (3e-4 + 3e-5) / 2, 3e-5])


def test_save_interval_not_dividing_epochs_trains_every_epoch(train_project: Path) -> None:
    line = (
        f"isonet.py refine tomograms.star -o r {one_step_epochs()} --epochs 15 --save_interval 10"
    )
    assert isonet(line) == 0
    out = train_project / "r"
    final = load_checkpoint(out / "network_isonet2-n2n_unet-small_32_full.pt")
    assert final["epoch"] == 15 and len(final["metrics"]["history"]) == 15
    assert load_checkpoint(out / "network_isonet2-n2n_unet-small_32_epoch10_full.pt")["epoch"] == 10
    assert not list(out.glob("*epoch15*"))


def test_a_rerun_with_other_settings_sets_the_earlier_run_aside(
    train_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It resumed under the new settings (its checkpoint then misdescribed the run) and dropped
    a given --pretrained_model. Refusing instead broke the tutorial, which trains several
    recipes into one folder in turn; the earlier run now moves to earlier_run_N/."""
    out = train_project / "x"
    latest_path = out / "network_isonet2-n2n_unet-small_32_full.pt"
    short = one_step_epochs()  # neither previews nor long epochs are what this is about
    assert isonet(f"isonet.py refine tomograms.star -o x {short} --epochs 1") == 0
    first = latest_path.read_bytes()
    line = f"isonet.py refine tomograms.star -o x {short} --epochs 2 --loss_func L2+FSC"
    assert isonet(line) == 0
    aside = out / "earlier_run_1"
    assert (aside / latest_path.name).read_bytes() == first
    assert (aside / "refine_config.json").is_file()
    latest = load_checkpoint(latest_path)
    assert latest["config"]["loss_func"] == "L2+FSC" and latest["epoch"] == 2
    assert [int(h["epoch"]) for h in latest["metrics"]["history"]] == [1, 2]  # a new run
    said = (
        "--loss_func L2 (now L2+FSC); --mw_weight 5.0 (now 1.0); moved that run to x/earlier_run_1/"
    )
    assert said in caplog.text
    # a --pretrained_model the run was not started from makes another run too
    other = aside / latest_path.name
    line += f" --pretrained_model {other}"
    assert isonet(line) == 0
    assert (out / "earlier_run_2").is_dir() and "starting from the weights of" in caplog.text
    # how long and where it runs may change: that run continues
    caplog.clear()
    line = line.replace("--epochs 2", "--epochs 3").replace("tomograms.star", "./tomograms.star")
    assert isonet(f"{line} --gpuID 0") == 0
    assert "resuming" in caplog.text and not (out / "earlier_run_3").exists()
    assert load_checkpoint(latest_path)["epoch"] == 3


def test_another_run_in_the_folder_is_set_aside_not_mixed_with_this_one(
    train_project: Path, tiles_side_by_side: None
) -> None:
    """A denoise (or another arch) into a refine's folder replaced its loss plot and record
    and interleaved the logs, without a word."""
    # the refine's preview is among what is set aside; the denoise's own would be a repeat
    refine = f"refine tomograms.star -o x {one_step_epochs(preview=True)} --epochs 1"
    assert isonet(f"isonet.py {refine}") == 0
    plot = (train_project / "x" / "loss_full.png").read_bytes()
    assert isonet(f"isonet.py denoise tomograms.star -o x {one_step_epochs()} --epochs 1") == 0
    aside = train_project / "x" / "earlier_run_1"
    assert (aside / "loss_full.png").read_bytes() == plot
    assert sorted(p.name for p in aside.iterdir()) == [
        "log.txt", "loss_full.png", "network_isonet2-n2n_unet-small_32_full.pt", "preview",
        "refine_config.json",
    ]  # fmt: skip
    log = (train_project / "x" / "log.txt").read_text()
    assert "training isonet2-n2n" not in log  # the earlier run's lines went with it
    assert "training n2n" in log and "earlier_run_1" in log  # and this one says where
    assert (train_project / "x" / "denoise_config.json").is_file()
    assert not (train_project / "x" / "refine_config.json").exists()


def test_with_deconv_trains_on_the_deconvolved_maps_and_resumes(train_project: Path) -> None:
    line = f"isonet.py refine tomograms.star -o w --with_deconv True {FAST} --with_preview False"
    assert isonet(line) == 0
    rows = read_star("tomograms.star").rows
    assert all(row.deconv_path and row.mask_path for row in rows)
    ckpt = load_checkpoint(train_project / "w" / "network_isonet2_unet-small_32_full.pt")
    assert ckpt["method"] == "isonet2" and ckpt["config"]["input_column"] == "rlnDeconvTomoName"
    # the run record says what was trained on, so the same line continues the run
    assert isonet(line.replace("--epochs 1", "--epochs 2")) == 0
    assert not (train_project / "w" / "earlier_run_1").exists()
    assert (
        load_checkpoint(train_project / "w" / "network_isonet2_unet-small_32_full.pt")["epoch"] == 2
    )


def test_killed_run_resumes_and_finishes_its_epochs(train_project: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "isonet2.cli",
        "refine",
        "tomograms.star",
        "-o",
        "k",
        *one_step_epochs().split(),
        "--epochs",
        "6",
    ]
    latest = train_project / "k" / "network_isonet2-n2n_unet-small_32_full.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not latest.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = load_checkpoint(latest)["epoch"]
    assert 1 <= first < 6
    # what a kill during a checkpoint's or the plot's write leaves; the rerun removes it
    leftovers = [
        latest.with_name(f".{latest.name}.ab_12cd3.tmp"),
        latest.with_name(".loss_full.png.x1y2z3w4.png"),
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    assert subprocess.run(args, env=env, stderr=subprocess.DEVNULL).returncode == 0
    assert not [path for path in latest.parent.iterdir() if path.name.startswith(".")]
    final = load_checkpoint(latest)
    assert final["epoch"] == 6
    assert [int(h["epoch"]) for h in final["metrics"]["history"]] == list(range(1, 7))


def test_each_epoch_is_written_before_the_checkpoint_a_rerun_resumes_from(
    train_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill just after the latest checkpoint lost the epoch's numbered copy for good (the
    rerun resumed after it): the numbered copy, plot and log line now come first."""
    from isonet2.train import trainer

    order: list[str] = []
    real_save, real_plot = trainer.save_checkpoint, trainer.plot_losses
    monkeypatch.setattr(
        trainer,
        "save_checkpoint",
        lambda path, **kw: (order.append(Path(path).name), real_save(path, **kw)),
    )
    monkeypatch.setattr(trainer, "plot_losses", lambda *a: (order.append("plot"), real_plot(*a)))
    line = f"isonet.py refine tomograms.star -o w {one_step_epochs()} --epochs 2 --save_interval 2"
    assert isonet(line) == 0
    latest = "network_isonet2-n2n_unet-small_32_full.pt"
    numbered = "network_isonet2-n2n_unet-small_32_epoch2_full.pt"
    assert order == ["plot", latest, numbered, "plot", latest]


def test_a_rerun_completes_what_a_run_stopped_after_its_checkpoint_did_not_write(
    train_project: Path, tiles_side_by_side: None
) -> None:
    """Numbered copy, preview and loss plot of the last finished epoch, and the temp files a
    SIGKILL left in the preview folder and of the run record."""
    folder = train_project / "p"
    short = one_step_epochs(preview=True)  # with the previews this is about
    line = f"isonet.py refine tomograms.star -o p {short} --epochs 1 --save_interval 1"
    line += " --prev_tomo_idx 1"
    assert isonet(line) == 0
    numbered = folder / "network_isonet2-n2n_unet-small_32_epoch1_full.pt"
    picture = folder / "preview" / "t0_EVN_epoch1.png"
    assert numbered.is_file() and picture.is_file()
    numbered.unlink()
    picture.unlink()
    (folder / "loss_full.png").unlink()
    leftovers = [
        folder / "preview" / ".t0_EVN_epoch1.mrc.ab12cd34.mrc.tmp",
        folder / ".refine_config.json.ab12cd34.tmp",
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    assert isonet(line) == 0  # the run holds its 1 epoch: nothing to train, only to complete
    assert load_checkpoint(numbered)["epoch"] == 1
    assert picture.is_file() and (folder / "loss_full.png").is_file()
    assert not [path for path in leftovers if path.exists()]


@pytest.mark.parametrize(
    ("setup", "line", "message"),
    [
        ("neither", f"isonet.py refine tomograms.star {FAST}", "neither even/odd halves nor full"),
        (
            "halves_missing",
            f"isonet.py refine tomograms.star --method isonet2-n2n {FAST}",
            "needs even/odd halves",
        ),
        (
            "halves_missing",
            f"isonet.py denoise tomograms.star {FAST}",
            "(rlnTomoReconstructedTomogramHalf1/2); run prepare_star with --even/--odd",
        ),
        (
            "none",
            "isonet.py refine tomograms.star --pretrained_model other.pt --epochs 1"
            " --cube_size 48 --arch unet-small --ncpus 0",
            "the checkpoint has cube_size 32",
        ),
        ("none", "isonet.py refine tomograms.star --cube_size 40", "not a multiple of 16"),
        (
            "none",
            f"isonet.py refine tomograms.star --method isonet2-n2n --with_deconv True {FAST}",
            "--with_deconv trains the single-map recipe on rlnDeconvTomoName",
        ),
        (
            "none",
            f"isonet.py refine tomograms.star --method isonet2-n2n --noise_level 0.1 {FAST}",
            "isonet2-n2n denoises from the even/odd halves and would ignore it",
        ),
        (  # both were silently ignored (a training-options audit)
            "none",
            f"isonet.py refine tomograms.star --method isonet2-n2n --input_column rlnTomoName {FAST}",
            "--input_column names the single maps of --method isonet2",
        ),
        (
            "none",
            f"isonet.py refine tomograms.star --with_deconv True --input_column rlnTomoName {FAST}",
            "--with_deconv trains on rlnDeconvTomoName, not on --input_column rlnTomoName",
        ),
    ],
)
def test_bad_input(
    train_project: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    setup: str,
    line: str,
    message: str,
) -> None:
    table = read_star("tomograms.star")
    for row in table.rows:
        if setup in ("neither", "halves_missing"):
            row.half1_path = row.half2_path = None
        if setup == "neither":
            row.tomogram_path = None
    write_star(table, "tomograms.star")
    if "other.pt" in line:  # a 32³ unet-small checkpoint
        shutil.copy2(request.getfixturevalue("one_epoch_checkpoint"), "other.pt")
        capsys.readouterr()
    assert isonet(line) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], errors
    if "denoise" in line:  # denoise has no --method to suggest
        assert errors[0].endswith(message), errors
    if "other.pt" in line:  # refused before the output folder and its record were written
        assert not Path("isonet_training").exists()


def test_gpu_id_naming_a_missing_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from isonet2.errors import InputError
    from isonet2.train.devices import select_devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match="GPU 3 does not exist; this machine shows 1 GPU"):
        select_devices("3")


def test_split_halves_with_predict(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mrc_writer: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
    tiles_side_by_side: None,  # what is predicted with which network, not how tiles blend
) -> None:
    import isonet2.pipeline.refine as refine_pipeline

    seeds: list[int] = []
    real_train = refine_pipeline.train

    def spy(spec: Any, *args: Any) -> Any:
        seeds.append(spec.seed)
        return real_train(spec, *args)

    monkeypatch.setattr(refine_pipeline, "train", spy)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    # the smallest map whose two Y halves each hold a 32³ cube
    signal = rng.standard_normal((32, 64, 32)).astype(np.float32)
    for half in ("EVN", "ODD"):
        noisy = signal + rng.standard_normal(signal.shape).astype(np.float32)
        mrc_writer(tmp_path / half / f"t_{half}.mrc", noisy, 10.0)
    assert run(["prepare_star", "-e", "EVN", "-o", "ODD", "--number_subtomos", "2"]) == 0
    line = f"isonet.py refine tomograms.star -o s --split_halves True --with_predict True {FAST}"
    assert isonet(line + " --batch_size 2 --with_preview False") == 0
    for half in ("top", "bottom"):
        trained = load_checkpoint(f"s/network_isonet2-n2n_unet-small_32_{half}.pt")
        assert trained["epoch"] == 1 and trained["y_half"] == half
    # each network its own loss plot (both wrote loss_full.png: the top one's was lost)
    assert sorted(p.name for p in Path("s").glob("loss_*.png")) == [
        "loss_bottom.png",
        "loss_top.png",
    ]
    row = read_star("tomograms.star").rows[0]
    assert row.corrected_path == "s/corrected/t_EVN_isonet2-n2n_unet-small.mrc"
    assert Path("s/corrected/t_EVN_isonet2-n2n_unet-small_model2.mrc").is_file()
    assert Path("s/corrected/t_EVN_fsc.png").stat().st_size > 0
    # the gold standard (even and odd, each Y half by the network not trained on it) and the
    # two maps' agreement
    assert "even vs odd half maps (independent): " in caplog.text
    assert "model vs model2, both from the same input: " in caplog.text
    # the two networks start from other weights (both started from one seed's, and their maps
    # agreed to r = 0.9999999 after a short run)
    assert seeds == [0, 1]
    # one run record, as typed, and a rerun continues both networks
    again = line.replace("--epochs 1", "--epochs 2")
    assert isonet(again + " --batch_size 2 --with_preview False") == 0
    assert not Path("s/earlier_run_1").exists()
    assert load_checkpoint("s/network_isonet2-n2n_unet-small_32_bottom.pt")["epoch"] == 2


def test_out_of_gpu_memory_is_one_line_with_the_fix(
    train_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from isonet2.train import trainer

    def out_of_memory(*args: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer, "_train", out_of_memory)
    assert isonet(f"isonet.py refine tomograms.star {FAST}") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "lower --batch_size" in errors[0], errors
    last = (train_project / "isonet_training" / "log.txt").read_text().splitlines()[-1]
    assert "error: cpu ran out of memory" in last


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [
        (KeyboardInterrupt(), 130, "interrupted (Ctrl-C)"),
        (StopSignal(signal.SIGTERM), 143, "stopped by SIGTERM"),
        (SystemExit(128 + signal.SIGHUP), 129, "stopped by SIGHUP"),  # a training worker's
    ],
)
def test_a_stopped_run_says_so_at_the_end_of_its_log(
    train_project: Path, monkeypatch: pytest.MonkeyPatch, stop: BaseException, code: int, said: str
) -> None:
    from isonet2.train import trainer

    def stopped(*args: object) -> None:
        raise stop

    monkeypatch.setattr(trainer, "_train", stopped)
    assert isonet(f"isonet.py refine tomograms.star -o s {FAST}") == code
    last = (train_project / "s" / "log.txt").read_text().splitlines()[-1]
    assert last.endswith(f"{said}; the same command resumes from the last finished epoch")


def test_weight_averaging_saves_the_average_and_resumes_exactly(train_project: Path) -> None:
    """model_state is the EMA (what predict uses), training_state the raw weights; a run
    stopped after 1 of 2 epochs and resumed ends with the same weights as an unbroken one
    (one epoch resumed shows an average or its step count not carried over)."""
    flags = f"{one_step_epochs()} --ema_decay 0.9 --seed 3 --epochs 2 --save_interval 1"
    name = "network_isonet2-n2n_unet-small_32_full.pt"
    assert isonet(f"isonet.py refine tomograms.star -o a {flags}") == 0
    Path("b").mkdir()  # a run that was stopped after its first epoch, then started again
    shutil.copy(Path("a") / name.replace("_full", "_epoch1_full"), Path("b") / name)
    assert isonet(f"isonet.py refine tomograms.star -o b {flags}") == 0
    whole, resumed = load_checkpoint(Path("a") / name), load_checkpoint(Path("b") / name)
    assert resumed["epoch"] == 2
    assert whole["model_state"].keys() == whole["training_state"].keys()
    weight = "stem.weight"
    assert not torch.equal(whole["model_state"][weight], whole["training_state"][weight])
    for key in ("model_state", "training_state"):
        for name_, value in whole[key].items():
            torch.testing.assert_close(resumed[key][name_], value, msg=f"{key} {name_}")


def test_adamw_beta2_reaches_the_optimizer(train_project: Path) -> None:
    """The flag is AdamW's second beta (the first stays torch's 0.9): the checkpoint's
    optimizer state and the run's config hold it, and it changes the trained weights."""
    flags = f"{one_step_epochs()} --seed 3 --epochs 2"
    name = "network_isonet2-n2n_unet-small_32_full.pt"
    assert isonet(f"isonet.py refine tomograms.star -o plain {flags}") == 0
    assert isonet(f"isonet.py refine tomograms.star -o fast {flags} --adamw_beta2 0.5") == 0
    plain, fast = load_checkpoint(Path("plain") / name), load_checkpoint(Path("fast") / name)
    assert tuple(plain["optimizer_state"]["param_groups"][0]["betas"]) == (0.9, 0.999)
    assert tuple(fast["optimizer_state"]["param_groups"][0]["betas"]) == (0.9, 0.5)
    record = json.loads(Path("fast/refine_config.json").read_text())
    assert record["parameters"]["adamw_beta2"] == 0.5
    weight = "stem.weight"
    assert not torch.equal(plain["model_state"][weight], fast["model_state"][weight])


def test_a_loss_that_becomes_nan_stops_with_one_line_and_keeps_the_last_good_epoch(
    train_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = f"{SMALL} --with_preview False --mixed_precision False"
    assert isonet(f"isonet.py refine tomograms.star -o n {flags} --epochs 1") == 0
    # resuming with a learning rate that blows the weights up; a resumed run must keep its
    # settings, so the checkpoint is made to say the run had that rate all along
    latest = train_project / "n" / "network_isonet2-n2n_unet-small_32_full.pt"
    saved = load_checkpoint(latest)
    saved["config"]["learning_rate"] = 1e30
    torch.save(saved, latest)
    line = f"isonet.py refine tomograms.star -o n {flags} --epochs 3 --learning_rate 1e30"
    assert isonet(line) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "the loss became infinite or NaN in epoch 2" in err[-1]
    assert "Traceback" not in "\n".join(err)
    ckpt = load_checkpoint(train_project / "n" / "network_isonet2-n2n_unet-small_32_full.pt")
    assert ckpt["epoch"] == 1
    last = (train_project / "n" / "log.txt").read_text().splitlines()[-1]
    assert "error: the loss became infinite or NaN in epoch 2" in last
    assert all(torch.isfinite(value).all() for value in ckpt["model_state"].values())


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_a_nan_voxel_beyond_the_central_slab_stops_refine_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mrc_writer: Callable[..., Path]
) -> None:
    """The normalisation statistics read only the central 60 slices; a training cube reaching
    the NaN slices below them names the voxel. With loader workers the error is raised in a
    worker, and the run must still end (its workers once outlived the error and the command
    waited for them forever at exit)."""
    monkeypatch.chdir(tmp_path)
    data = np.random.default_rng(0).standard_normal((80, 48, 48)).astype(np.float32)
    data[70:] = np.nan  # slices 10..69 are the central slab
    mrc_writer(tmp_path / "maps" / "t.mrc", data, 10.0)
    assert run(["prepare_star", "maps", "--number_subtomos", "40", "--pixel_size", "10"]) == 0
    words = shlex.split(f"refine tomograms.star -o out {FAST.replace('--ncpus 0', '--ncpus 2')}")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    child = subprocess.run(
        [sys.executable, "-m", "isonet2.cli", *words],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert child.returncode == 1, child.stderr
    last = child.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"isonet\.py refine: error: maps/t\.mrc: voxel \(z, y, x\) = \(7\d, \d+, \d+\) is nan; .*",
        last,
    ), last
    assert "Traceback" not in child.stderr


@pytest.mark.parametrize(
    "line",
    [
        "isonet.py refine tomograms.star -o afile",
        "isonet.py denoise tomograms.star -o afile/sub",
        "isonet.py deconv tomograms.star --deconv_folder afile",
        "isonet.py make_mask tomograms.star --mask_folder afile",
        "isonet.py simulate -o afile",
        "isonet.py prepare_star full --star_name afile/tomograms.star",
    ],
)
def test_a_file_in_the_way_of_the_output_folder_is_one_line(
    train_project: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    Path("afile").write_text("my notes")
    capsys.readouterr()
    assert isonet(f"{line} {SMALL if 'refine' in line or 'denoise' in line else ''}") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "afile" in err[0] and "a file is in the way" in err[0], err
    assert Path("afile").read_text() == "my notes"


def test_damaged_checkpoints_to_resume_or_start_from_are_one_line(
    train_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Weights that do not fit the network were a load_state_dict traceback; a latest
    checkpoint cut short (a disk that filled) did not say how to start afresh."""
    line = f"isonet.py refine tomograms.star -o r {FAST} --with_preview False"
    assert isonet(line) == 0
    latest = Path("r/network_isonet2-n2n_unet-small_32_full.pt")
    ckpt = torch.load(latest, weights_only=True)
    ckpt["model_state"].pop("head.weight")
    torch.save(ckpt, "bad.pt")
    latest.write_bytes(latest.read_bytes()[:1000])
    capsys.readouterr()
    assert isonet(f"isonet.py refine tomograms.star -o s {FAST} --pretrained_model bad.pt") == 1
    assert isonet(line) == 1
    errors = [text for text in capsys.readouterr().err.splitlines() if "error" in text]
    assert len(errors) == 2, errors
    assert "error: bad.pt: checkpoint does not fit architecture unet-small: " in errors[0]
    assert "head.weight" in errors[0]
    assert errors[1].startswith(f"isonet.py refine: error: {latest}")
    assert errors[1].endswith(
        "to train afresh instead of resuming, delete it or give --resume False"
    )


class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    ("typed", "expected"), [("", (1.0, 1.0, 0.02)), ("--snrfalloff 0.5", (0.5, 1.0, 0.02))]
)
def test_with_deconv_gives_deconv_its_own_defaults_or_the_typed_values(
    train_project: Path, monkeypatch: pytest.MonkeyPatch, typed: str, expected: tuple
) -> None:
    """refine --with_deconv passed the Wiener-training defaults (snrfalloff 0) to deconv,
    whose own default is 1.0: a map with 219x the high-frequency power of `deconv`'s."""
    import isonet2.pipeline.refine as refine_pipeline

    given: list[Any] = []

    def spy(cfg: Any) -> None:
        given.append(cfg)
        raise _Stop

    monkeypatch.setattr(refine_pipeline.deconv, "run", spy)
    with pytest.raises(_Stop):
        refine_pipeline.run(
            parse_command_line(RefineConfig, f"tomograms.star --with_deconv True {typed}".split())
        )
    (cfg,) = given
    assert (cfg.snrfalloff, cfg.deconvstrength, cfg.highpassnyquist) == expected


def test_with_deconv_on_halves_only_says_it_trains_on_the_even_half(
    halves_only: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """It deconvolved and trained on the even halves alone (half the dose), said at info level."""
    import isonet2.pipeline.refine as refine_pipeline

    def stop(cfg: Any) -> None:
        raise _Stop

    monkeypatch.setattr(refine_pipeline.deconv, "run", stop)
    with pytest.raises(_Stop):
        refine_pipeline.run(parse_command_line(RefineConfig, ["tomograms.star", "--with_deconv"]))
    assert "--with_deconv: rows [1, 2] have no full map (rlnTomoName)" in caplog.text


def test_flags_a_run_ignores_are_named(
    train_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Flags of another CTF mode or recipe were accepted and silently did nothing."""
    line = (
        "tomograms.star --CTF_mode None --clip_first_peak_mode 2 --bfactor 200 --snrfalloff 1 "
        "--noise_mode hamming --isCTFflipped True"
    )
    cfg = parse_command_line(RefineConfig, line.split())
    warn_ignored_flags(cfg, "isonet2-n2n", set(cfg.model_fields_set))
    for flag in ("--clip_first_peak_mode", "--bfactor", "--snrfalloff", "--noise_mode"):
        assert f"{flag} is ignored: it " in caplog.text, flag
    assert "--isCTFflipped is ignored: it has no effect with --CTF_mode None" in caplog.text
    caplog.clear()
    cfg = parse_command_line(RefineConfig, ["tomograms.star", "--CTF_mode", "network"])
    warn_ignored_flags(cfg, "isonet2", set(cfg.model_fields_set), reads_deconvolved=True)
    assert "corrects the CTF twice" in caplog.text and "is ignored" not in caplog.text
    caplog.clear()
    line = "tomograms.star --CTF_mode wiener --snrfalloff 1 --bfactor 200 --method isonet2"
    cfg = parse_command_line(RefineConfig, line.split())
    warn_ignored_flags(cfg, "isonet2", set(cfg.model_fields_set))
    assert caplog.text == ""
