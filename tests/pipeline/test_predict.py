"""predict end to end: the tutorial's lines, star updates, half-map FSC, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_distributed import child_processes
from tutorial_lines import isonet

from isonet2.cli import run
from isonet2.config import PredictConfig
from isonet2.errors import InputError
from isonet2.io.mrc import read_info, read_volume
from isonet2.io.star import read_star, write_star
from isonet2.pipeline import demo, predict
from isonet2.predict.predictor import TilePredictor
from isonet2.train.distributed import launch_workers

SMALL = "--cube_size 32 --arch unet-small --ncpus 0 --with_preview False"


CHECKPOINT = "network_isonet2-n2n_unet-small_32_full.pt"


@pytest.fixture
def trained(train_project: Path, one_epoch_checkpoint: Path) -> Path:
    """The tiny project with (a copy of) that checkpoint in 01_test/."""
    (train_project / "01_test").mkdir()
    return Path(shutil.copy2(one_epoch_checkpoint, train_project / "01_test" / CHECKPOINT))


def test_tutorial_predict_line_with_input_column(trained: Path) -> None:
    table = read_star("tomograms.star")
    for row in table.rows:  # as if deconv had run: the column the tutorial predicts from
        row.deconv_path = row.tomogram_path
    write_star(table, "tomograms.star")
    line = f"isonet.py predict tomograms.star {trained} --gpuID 0 --outputdir corrected --inputcolumn rlnDeconvTomoName"
    assert isonet(line) == 0
    rows = read_star("tomograms.star").rows
    for row in rows:
        out = Path(row.corrected_path or "")
        assert out.parent.name == "corrected" and out.is_file()
        assert out.name == f"t{row.index - 1}_isonet2-n2n_unet-small.mrc"
        info = read_info(out)
        assert info.shape == (48, 48, 48) and info.pixel_size_angstrom == pytest.approx(10.0)
        assert np.isfinite(read_volume(out)).all()
    assert Path("corrected/predict_config.json").is_file()


def test_predict_one_row_from_halves(trained: Path) -> None:
    # what a predict killed with SIGKILL leaves (a hidden map of full size); this one removes it
    Path("out").mkdir()
    leftover = Path("out/.t0_EVN_isonet2-n2n_unet-small.mrc.k9_x2ab7.mrc.tmp")
    leftover.write_bytes(bytes(1024))
    Path("out/.someone_elses.mrc.k9_x2ab7.mrc.tmp").write_bytes(b"")  # not predict's: stays
    assert isonet(f"isonet.py predict tomograms.star {trained} --output_dir out --tomo_idx 1") == 0
    rows = read_star("tomograms.star").rows
    assert rows[0].corrected_path == "out/t0_EVN_isonet2-n2n_unet-small.mrc"
    assert rows[1].corrected_path is None
    hidden = [path.name for path in Path("out").iterdir() if path.name.startswith(".")]
    assert hidden == [".someone_elses.mrc.k9_x2ab7.mrc.tmp"]


def test_model2_writes_a_second_map_and_an_fsc(
    trained: Path, caplog: pytest.LogCaptureFixture
) -> None:
    second = shutil.copy2(trained, trained.with_name("network_bottom.pt"))  # stands in for one
    # tiles side by side (--padding_factor 1): a third of the tiles, and the maps' names and
    # FSCs are what this is about, not the blending of overlapping tiles
    line = f"isonet.py predict tomograms.star {trained} --model2 {second} --tomo_idx 2"
    line += " --padding_factor 1"
    caplog.clear()
    assert isonet(f"{line} -o out --output_prefix p_") == 0  # the plot had no prefix (an audit)
    assert Path("out/p_t1_EVN_isonet2-n2n_unet-small_model2.mrc").is_file()
    assert (
        Path("out/p_t1_EVN_fsc.png").stat().st_size > 0 and not Path("out/t1_EVN_fsc.png").exists()
    )
    # one network twice: its two maps agree to Nyquist, while its predictions of the even
    # and the odd half share only the signal, which this project has at low frequencies only
    assert "model vs model2, both from the same input: above 0.143 up to Nyquist" in caplog.text
    assert "even vs odd half maps (independent): 0.143 at " in caplog.text
    caplog.clear()
    # one map in: no independent pair to make; and without a prefix, the names without one
    assert isonet(f"{line} -o full --input_column rlnTomoName") == 0
    assert Path("full/t1_isonet2-n2n_unet-small_model2.mrc").is_file()
    assert Path("full/t1_fsc.png").stat().st_size > 0
    assert "independent" not in caplog.text.replace("no even/odd halves for an independent", "")
    assert "(agreement of the networks: no even/odd halves for an independent pair)" in caplog.text


def test_a_tomogram_smaller_than_a_tile_is_padded_and_predicted(
    trained: Path, mrc_writer: Callable[..., Path]
) -> None:
    rng = np.random.default_rng(0)
    for half in ("EVN", "ODD"):
        mrc_writer(Path(f"small_{half}.mrc"), rng.standard_normal((19, 24, 27)), 10.0)
    table = read_star("tomograms.star")
    table.rows = table.rows[:1]
    table.rows[0].half1_path, table.rows[0].half2_path = "small_EVN.mrc", "small_ODD.mrc"
    write_star(table, "small.star")
    assert isonet(f"isonet.py predict small.star {trained} -o out") == 0
    out = read_volume("out/small_EVN_isonet2-n2n_unet-small.mrc")
    assert out.shape == (19, 24, 27) and np.isfinite(out).all() and out.std() > 0


def test_two_cpu_workers_write_what_one_worker_writes(
    trained: Path, mrc_writer: Callable[..., Path]
) -> None:
    """Ranks share the tomograms and, where a cut falls inside one, its Z slabs.

    With a third, smaller tomogram the work splits inside the second one (rank 0: t0 and
    slices 0-2 of t1; rank 1: slices 3-47 of t1 and the small one), so both ways of sharing
    are exercised. Each rank predicts every tile touching its slab in the same batches as one
    worker does, so the maps agree to float rounding (1e-5).
    """
    rng = np.random.default_rng(0)
    for half in ("EVN", "ODD"):
        mrc_writer(Path(f"small_{half}.mrc"), rng.standard_normal((19, 24, 27)), 10.0)
    table = read_star("tomograms.star")
    table.rows.append(
        dataclasses.replace(
            table.rows[0], index=3, half1_path="small_EVN.mrc", half2_path="small_ODD.mrc"
        )
    )
    write_star(table, "tomograms.star")
    assert isonet(f"isonet.py predict tomograms.star {trained} -o one") == 0
    one = read_star("tomograms.star")
    assert isonet(f"isonet.py predict tomograms.star {trained} -o two --cpu_workers 2") == 0
    assert child_processes() == []
    two = read_star("tomograms.star")
    names = sorted(path.name for path in Path("one").iterdir())
    assert sorted(path.name for path in Path("two").iterdir()) == names  # no temp files left
    assert len(names) == 4 and "predict_config.json" in names
    for first, second in zip(one.rows, two.rows, strict=True):
        assert first.corrected_path and second.corrected_path
        assert Path(second.corrected_path).parent.name == "two"
        single, shared = read_info(first.corrected_path), read_info(second.corrected_path)
        assert shared.shape == single.shape and shared.voxel_size_angstrom == pytest.approx(
            single.voxel_size_angstrom
        )
        np.testing.assert_allclose(
            read_volume(second.corrected_path), read_volume(first.corrected_path), rtol=0, atol=1e-5
        )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_checkpoint", "is not an isonet2 checkpoint"),
        (
            "missing_tomogram",
            "star row 2, column rlnTomoReconstructedTomogramHalf2: ODD/t1_ODD.mrc: no such file; "
            "paths in the star are read from the folder isonet.py runs in",
        ),
        ("model2_is_model", "is the --model itself"),
        (
            "no_full_maps",
            "star row 1 has no tomogram in rlnTomoName; leave out --input_column to predict its "
            "even/odd halves",
        ),
    ],
)
def test_bad_input(
    trained: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    model, extra = trained, ""
    if case == "not_checkpoint":
        model = Path("notes.pt")
        model.write_text("hello")
    elif case == "model2_is_model":
        extra = f" --model2 ./{trained.relative_to(Path.cwd())}"
    elif case == "no_full_maps":
        table = read_star("tomograms.star")
        for row in table.rows:
            row.tomogram_path = None
        write_star(table, "tomograms.star")
        extra = " --input_column rlnTomoName"
    else:
        Path(read_star("tomograms.star").rows[1].half2_path or "").unlink()
    capsys.readouterr()
    assert isonet(f"isonet.py predict tomograms.star {model} -o out{extra}") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], errors
    assert not Path("out").exists() or not list(Path("out").glob("*.mrc"))


def test_running_out_of_gpu_memory_is_one_line_that_names_the_flags(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(TilePredictor, "_network", out_of_memory)
    capsys.readouterr()
    line = f"isonet.py predict tomograms.star {trained} -o out --batch_size 4 --tile_size 48"
    assert isonet(line) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1, errors
    assert "ran out of memory predicting batches of 4 tiles of 48³" in errors[0]
    assert "--batch_size or --tile_size" in errors[0]
    assert list(Path("out").glob("*.mrc*")) == []


def test_a_failed_write_leaves_no_half_written_output(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from isonet2.predict.predictor import TilePredictor

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TilePredictor, "_flush", disk_full)
    capsys.readouterr()
    assert run(["predict", "tomograms.star", str(trained), "-o", "out"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        "isonet.py predict: error: No space left on device; free space there or choose another "
        "output folder"
    ]
    assert list(Path("out").glob("*.mrc*")) == []
    assert all(row.corrected_path is None for row in read_star("tomograms.star").rows)


def _disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


def predict_failing_on_rank_one(config: dict[str, object], devices: list[torch.device]) -> object:
    """predict's worker, but rank 1 cannot write its slabs (patched in that process only)."""
    if os.environ["RANK"] == "1":
        TilePredictor.predict_into = _disk_full  # type: ignore[method-assign]
    return predict.predict_worker(config, devices)


def test_a_failing_worker_stops_both_and_leaves_no_file(
    trained: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = PredictConfig(star_file="tomograms.star", model=str(trained), output_dir="out")
    capfd.readouterr()
    with pytest.raises(InputError, match=r"^worker 1 failed: .*No space left on device"):
        launch_workers(predict_failing_on_rank_one, 2, (config.model_dump(), [torch.device("cpu")]))
    assert child_processes() == []
    assert {path.name for path in Path("out").iterdir()} == {"predict_config.json"}
    assert all(row.corrected_path is None for row in read_star("tomograms.star").rows)
    assert "Traceback" not in capfd.readouterr().err  # the rank stopped unwinds quietly


def test_a_stop_signal_mid_prediction_keeps_finished_maps_and_leaves_no_temp_file(
    trained: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The GUI's Cancel (SIGTERM) while the second map is half written: exit 143; the first
    map and its star entry stay, the second leaves no temp file and no entry, and the
    caller's own SIGTERM handler is back afterwards."""
    import signal

    real = TilePredictor.predict_into
    calls: list[int] = []

    def stopped_in_the_second(
        self: TilePredictor, out: np.ndarray, *args: object, **kw: object
    ) -> None:
        calls.append(1)
        if len(calls) == 2:
            out[: out.shape[0] // 2] = 1.0  # some slabs are in the memory-mapped temp file
            os.kill(os.getpid(), signal.SIGTERM)
        real(self, out, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(TilePredictor, "predict_into", stopped_in_the_second)
    config = PredictConfig(
        star_file="tomograms.star", model=str(trained), output_dir="out", input_column="rlnTomoName"
    )
    caught: list[int] = []  # were predict not to handle the stop, this would (not kill pytest)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
    try:
        with pytest.raises(SystemExit) as stopped:
            predict.run(config)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.code == 143 and caught == []
    first = "t0_isonet2-n2n_unet-small.mrc"
    assert {path.name for path in Path("out").iterdir()} == {"predict_config.json", first}
    rows = read_star("tomograms.star").rows
    assert Path(rows[0].corrected_path or "").name == first
    assert [row.corrected_path for row in rows[1:]] == [None] * (len(rows) - 1)
    said = "kept, and recorded in tomograms.star, the maps finished before the stop (1): out/"
    assert f"{said}{first}" in caplog.text


def test_demo_wiring_at_a_tiny_size(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiles_side_by_side: None,  # the steps' wiring is what this is about, not tile blending
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "CPU_SIZE", demo.DemoSize([64, 64, 64], "unet-small", 32, 2, 1))
    assert run(["demo", "-o", "d"]) == 0
    out = capsys.readouterr().out
    assert "FSC in wedge" in out and "slices_sim_01.png" in out
    assert Path("d/slices_sim_02.png").stat().st_size > 0
    assert len(Path("d/eval_corrected/evaluate.jsonl").read_text().splitlines()) == 2
    assert Path("d/demo_config.json").is_file()
    trained = json.loads(Path("d/refine/refine_config.json").read_text())["parameters"]
    recipe = ("loss_func", "learning_rate", "learning_rate_min", "batch_size", "random_rot_weight")
    assert [trained[key] for key in recipe] == ["L2+FSC", 3e-3, 1e-4, 2, 0.0]
    assert trained["warmup_epochs"] == 0  # one epoch: a warm-up would never end


def test_the_demo_warms_up_for_one_epoch_of_several(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiles_side_by_side: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "CPU_SIZE", demo.DemoSize([64, 64, 64], "unet-small", 32, 2, 1))
    assert run(["demo", "-o", "d", "--epochs", "2"]) == 0
    trained = json.loads(Path("d/refine/refine_config.json").read_text())["parameters"]
    assert (trained["epochs"], trained["warmup_epochs"]) == (2, 1)


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("", "--output_dir '': give the demo a folder of its own"),
        (".", "--output_dir .: this folder already holds files (sim, tomograms.star)"),
        ("project", "-o project: this folder already holds files (sim, tomograms.star) and is not"),
    ],
)
def test_the_demo_never_writes_into_a_folder_that_is_not_its_own(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    folder: str,
    message: str,
) -> None:
    """`demo -o ""` wrote sim/ and refine/ into the current folder, over a project there."""
    monkeypatch.chdir(tmp_path)
    project = tmp_path / ("project" if folder == "project" else "")
    (project / "sim").mkdir(parents=True)
    (project / "tomograms.star").write_text("data_\n")
    flag = "-o" if folder == "project" else "--output_dir"
    assert run(["demo", flag, folder]) == 1
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in project.iterdir()) == ["sim", "tomograms.star"]


def test_rotation_average_predicts_a_different_smoother_map(trained: Path) -> None:
    # the full map, not the halves: one map per command instead of two
    line = f"isonet.py predict tomograms.star {trained} --tomo_idx 1 --input_column rlnTomoName"
    assert isonet(f"{line} -o plain") == 0
    assert isonet(f"{line} -o tta --tta") == 0
    plain = read_volume("plain/t0_isonet2-n2n_unet-small.mrc")
    averaged = read_volume("tta/t0_isonet2-n2n_unet-small.mrc")
    assert np.isfinite(averaged).all() and not np.allclose(plain, averaged)
    # the average of four predictions varies less than any one of them
    assert averaged.std() < plain.std()


def test_only_rotations_that_keep_every_selected_wedge_are_used(train_project: Path) -> None:
    from isonet2.pipeline.predict import _shared_rotations

    symmetric = read_star("tomograms.star").rows[0]
    asymmetric = dataclasses.replace(symmetric, tilt_min_deg=-50.0, tilt_max_deg=65.0)
    assert len(_shared_rotations([symmetric], mirrors=False)) == 3
    assert _shared_rotations([symmetric, asymmetric], mirrors=False) == [(2, 4)]
    assert len(_shared_rotations([symmetric], mirrors=True)) == 7
    assert _shared_rotations([symmetric, asymmetric], mirrors=True) == [(2, 4), (3,), (2, 3, 4)]


def test_larger_tiles_with_mirrors_predict_a_finite_map_of_the_same_shape(trained: Path) -> None:
    line = f"isonet.py predict tomograms.star {trained} --tomo_idx 1 --input_column rlnTomoName"
    assert isonet(f"{line} -o plain") == 0
    assert isonet(f"{line} -o big --tta True --tta_mirrors True --tile_size 48") == 0
    plain = read_volume("plain/t0_isonet2-n2n_unet-small.mrc")
    big = read_volume("big/t0_isonet2-n2n_unet-small.mrc")
    assert big.shape == plain.shape and np.isfinite(big).all()
    # another tiling and orientation average of the same network: close, not equal
    assert not np.allclose(plain, big)
    assert np.corrcoef(plain.ravel(), big.ravel())[0, 1] > 0.8


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--tile_size 40", "40 is not a multiple of 16"),
        ("--tta_mirrors True", "--tta_mirrors only adds to --tta"),
        ("--batch_size 0", "--batch_size '0': batch size must be at least 1, or auto"),
    ],
)
def test_bad_tiling_flags(
    trained: Path, capsys: pytest.CaptureFixture[str], flags: str, message: str
) -> None:
    capsys.readouterr()
    assert isonet(f"isonet.py predict tomograms.star {trained} -o out {flags}") == 2  # usage
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], errors
    assert not Path("out").exists()  # refused before any work


def predict_as_if_on_two_machines(config: dict[str, object], devices: list[torch.device]) -> object:
    """predict's worker in a launch that claims to span two machines; each rank that predicts
    leaves a file predicted_by_rank<R>."""
    predict.spans_nodes = lambda: True  # type: ignore[attr-defined]
    inner = predict._predict

    def _predict(cfg: PredictConfig, context: object) -> object:
        Path(f"predicted_by_rank{os.environ['RANK']}").touch()
        return inner(cfg, context)  # type: ignore[arg-type]

    predict._predict = _predict  # type: ignore[assignment]
    return predict.predict_worker(config, devices)


def test_on_several_machines_rank_zero_predicts_alone(trained: Path) -> None:
    """A memory-mapped output cannot be shared between machines: rank 0 writes it whole."""
    assert isonet(f"isonet.py predict tomograms.star {trained} -o one --tomo_idx 1") == 0
    single = read_volume(read_star("tomograms.star").rows[0].corrected_path or "")
    config = PredictConfig(star_file="tomograms.star", model=str(trained), output_dir="nodes")
    devices = [torch.device("cpu")]
    result = launch_workers(predict_as_if_on_two_machines, 2, (config.model_dump(), devices))
    assert child_processes() == []
    assert sorted(Path().glob("predicted_by_rank*")) == [Path("predicted_by_rank0")]
    assert [path.name for path in result.outputs] == [
        "t0_EVN_isonet2-n2n_unet-small.mrc",
        "t1_EVN_isonet2-n2n_unet-small.mrc",
    ]
    np.testing.assert_array_equal(read_volume(result.outputs[0]), single)


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_a_nan_voxel_stops_predict_with_one_line_and_no_map(
    trained: Path, mrc_writer: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Beyond the central slab (which the normalisation reads) the tile reaching the voxel
    names it; nothing is written and the star keeps no output column."""
    data = np.random.default_rng(0).standard_normal((80, 48, 48)).astype(np.float32)
    data[75, 10, 20] = np.nan
    mrc_writer(Path("nanmaps", "t.mrc"), data, 10.0)
    assert run(["prepare_star", "nanmaps", "--star_name", "nan.star", "--pixel_size", "10"]) == 0
    capsys.readouterr()
    assert isonet(f"isonet.py predict nan.star {trained} -o out") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        "isonet.py predict: error: nanmaps/t.mrc: voxel (z, y, x) = (75, 10, 20) is nan; NaN or "
        "infinite values make every result around them NaN: replace them (e.g. with the map's "
        "mean) or reconstruct the map again"
    )
    assert {path.name for path in Path("out").iterdir()} == {"predict_config.json"}
    assert read_star("nan.star").rows[0].corrected_path is None


@pytest.mark.parametrize("case", ["constant", "same_name", "huge_tile"])
def test_maps_that_cannot_be_predicted_are_one_line_and_no_map(
    trained: Path, mrc_writer: Callable[..., Path], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """An empty map (std 0) made an all-NaN output; two rows of one file name overwrote each
    other's output; a tile far larger than the map was allocated until the machine ran out."""
    table = read_star("tomograms.star")
    flags = "--input_column rlnTomoName"
    if case == "constant":
        mrc_writer(Path("flat", "t0.mrc"), np.zeros((48, 48, 48), np.float32), 10.0)
        table.rows[0].tomogram_path = "flat/t0.mrc"
        message = "flat/t0.mrc: central slab has mean 0.0, std 0.0; the tomogram looks empty"
    elif case == "same_name":
        for row, folder in zip(table.rows, ("a", "b"), strict=True):
            data = np.random.default_rng(row.index).standard_normal((48, 48, 48))
            mrc_writer(Path(folder, "t.mrc"), data.astype(np.float32), 10.0)
            row.tomogram_path = f"{folder}/t.mrc"
        message = "bad.star: two tomograms would both write out/t_isonet2-n2n_unet-small.mrc"
    else:
        flags += " --tile_size 256"
        message = "--tile_size 256 is larger than every axis of full/t0.mrc (48, 48, 48)"
    write_star(table, "bad.star")
    capsys.readouterr()
    assert isonet(f"isonet.py predict bad.star {trained} -o out {flags}") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], errors
    assert not list(Path("out").glob("*.mrc"))
    assert all(row.corrected_path is None for row in read_star("bad.star").rows)


@pytest.mark.parametrize(
    ("command", "second_name"),
    [
        ("deconv tomograms.star --deconvfolder full", "t0_deconv.mrc"),
        ("make_mask tomograms.star --maskfolder full", "t0_mask.mrc"),
        (
            "predict tomograms.star {model} -o full --input_column rlnTomoName",
            "t0_isonet2-n2n_unet-small.mrc",
        ),
    ],
)
def test_an_output_never_replaces_a_tomogram_the_star_names(
    trained: Path, capsys: pytest.CaptureFixture[str], command: str, second_name: str
) -> None:
    """Row 2's tomogram named like row 1's output, in the output folder: it was replaced
    (exit 0), and the star then named a mask or a prediction as a tomogram."""
    Path("full/t1.mrc").rename(Path("full") / second_name)
    table = read_star("tomograms.star")
    table.rows[1].tomogram_path = f"full/{second_name}"
    write_star(table, "tomograms.star")
    before = {path: path.read_bytes() for path in Path("full").iterdir()}
    capsys.readouterr()
    assert isonet("isonet.py " + command.format(model=trained)) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1, errors
    assert (
        f"full/t0_{second_name[3:]} would replace full/{second_name}, the rlnTomoName of row 2"
        in errors[0]
    )
    assert {path: path.read_bytes() for path in Path("full").iterdir()} == before


def test_the_phase_flip_follows_the_checkpoint_unless_the_flags_say_otherwise(
    trained: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A CTF-aware model trained with --do_phaseflip_input False saw unflipped cubes, and
    predict fed it phase-flipped tiles: its own flags defaulted to flipping (a science audit)."""
    checkpoint = torch.load(trained, weights_only=True)
    checkpoint["physics"].update(ctf_mode="network", do_phaseflip_input=False)
    torch.save(checkpoint, trained)
    flipped: list[bool] = []

    def spy(*args: object, **kwargs: object) -> object:
        filters = tile_filters_for(*args, **kwargs)
        flipped.append(filters.phase_flip is not None)
        return filters

    tile_filters_for = predict.tile_filters_for
    monkeypatch.setattr(predict, "tile_filters_for", spy)
    line = f"isonet.py predict tomograms.star {trained} --tomo_idx 1 --tile_size 32"
    assert isonet(f"{line} -o out") == 0
    assert flipped == [False] and "trained on" not in caplog.text
    assert isonet(f"{line} -o out2 --do_phaseflip_input True") == 0
    assert flipped == [False, True]
    assert "the model was trained on unflipped maps and is given phase-flipped ones" in caplog.text


def test_flags_a_model_ignores_are_named(trained: Path, caplog: pytest.LogCaptureFixture) -> None:
    """--apply_mw_x1 with a denoise model and the flip flags with a model trained without a
    CTF changed nothing, silently (an options audit)."""
    line = f"isonet.py predict tomograms.star {trained} --tomo_idx 1 --tile_size 32 -o a"
    assert isonet(f"{line} --isCTFflipped True") == 0  # trained with --CTF_mode None
    assert "--isCTFflipped / --do_phaseflip_input ignored: " in caplog.text
    checkpoint = torch.load(trained, weights_only=True)
    checkpoint["method"] = "n2n"  # as a denoise run saves it
    torch.save(checkpoint, trained)
    assert isonet(f"{line.replace(' -o a', ' -o b')} --apply_mw_x1 True") == 0
    assert "--apply_mw_x1 ignored: " in caplog.text and "denoise (n2n) model" in caplog.text
