"""The Python API: each command as a function with the flags as keywords, its result back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from isonet2 import api
from isonet2.errors import InputError, UsageError
from isonet2.io.star import read_star


@pytest.fixture
def halves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_mrc: Callable[..., Path]) -> Path:
    monkeypatch.chdir(tmp_path)
    for i in (1, 2):
        make_mrc(tmp_path / "EVN" / f"TS_{i:02d}_EVN.mrc", shape=(48, 48, 48), seed=i)
        make_mrc(tmp_path / "ODD" / f"TS_{i:02d}_ODD.mrc", shape=(48, 48, 48), seed=10 + i)
    return tmp_path


def test_the_tutorial_from_python(halves: Path) -> None:
    made = api.prepare_star(
        even="EVN", odd="ODD", pixel_size=10, number_subtomos=2, defocus=[30000.0]
    )
    assert made.star_path == Path("tomograms.star") and len(made.table.rows) == 2
    trained = api.refine(
        "tomograms.star",
        outputdir="01_test",  # any spelling the command line takes
        CTF_mode="network",
        epochs=1,
        cube_size=32,
        arch="unet-small",
        ncpus=0,
        with_preview=False,
    )
    assert trained.method == "isonet2-n2n"
    assert [p.name for p in trained.checkpoints] == ["network_isonet2-n2n_unet-small_32_full.pt"]
    done = api.predict("tomograms.star", trained.checkpoints[0], output_dir="out", tomo_idx="2")
    assert [p.name for p in done.outputs] == ["TS_02_EVN_isonet2-n2n_unet-small.mrc"]
    assert read_star("tomograms.star").rows[1].corrected_path == str(done.outputs[0])


def test_the_functions_say_what_they_take() -> None:
    assert api.refine.__name__ == "refine"
    assert "positional: star_file" in (api.refine.__doc__ or "")
    assert "gui" not in api.__all__


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: api.refine("t.star", epoch=2),
            UsageError,
            "no parameter 'epoch'; did you mean epochs=?",
        ),
        (
            lambda: api.refine("t.star", "x"),
            UsageError,
            "takes 1 positional argument(s) (star_file), got 2",
        ),
        (lambda: api.refine("t.star", star_file="u.star"), UsageError, "got 'star_file' twice"),
        (lambda: api.refine("t.star", epochs=-1), UsageError, "--epochs"),
        (lambda: api.run_command("gui"), UsageError, "no command 'gui' in the Python API"),
        (
            lambda: api.prepare_star("x", number_subtomos=True),
            UsageError,
            "--number_subtomos: True is a truth value",
        ),
        (lambda: api.prepare_star("no_such_folder"), InputError, "no_such_folder"),
    ],
)
def test_mistakes_raise_the_command_lines_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    call: Callable[[], object],
    error: type,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as raised:
        call()
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_importing_isonet2_alone_does_not_import_torch() -> None:
    code = "import sys, isonet2; print('torch' in sys.modules)"  # the api does, when imported
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_python_values_are_taken_as_the_command_line_takes_its_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an audit: gpuID=0, CTF_mode=None, a numpy tomo_idx and "1e4,2e4" for a list
    were refused or raised AttributeError."""
    import inspect

    import numpy as np

    from isonet2.config import DeconvConfig, PrepareStarConfig, RefineConfig

    seen: list[object] = []
    monkeypatch.setitem(api._PIPELINES, "refine", type("P", (), {"run": staticmethod(seen.append)}))
    api.refine("t.star", gpuID=0, CTF_mode=None, noise_mode=None)
    cfg = seen[-1]
    assert isinstance(cfg, RefineConfig)
    assert (cfg.gpuID, cfg.CTF_mode, cfg.noise_mode) == ("0", "None", "None")
    api.refine("t.star", gpuID=[0, 1], noise_level="0.1,0.2", noise_start_iter=(0, 5))
    assert seen[-1].gpuID == "0,1" and seen[-1].noise_level == [0.1, 0.2]  # type: ignore[attr-defined]
    for rows in (np.int64(2), (1, 2), range(1, 3), np.array([1, 2])):
        assert DeconvConfig.model_validate({"tomo_idx": rows}).selected_indices() in ([2], [1, 2])
    with pytest.raises(UsageError, match="--tomo_idx"):
        api.deconv("t.star", tomo_idx=1.5)
    monkeypatch.setitem(
        api._PIPELINES, "prepare_star", type("P", (), {"run": staticmethod(seen.append)})
    )
    api.prepare_star(full="x", defocus="1e4,2e4")
    assert isinstance(seen[-1], PrepareStarConfig) and seen[-1].defocus == [1e4, 2e4]
    signature = inspect.signature(api.refine)
    assert (
        next(iter(signature.parameters)) == "star_file"
        and signature.parameters["epochs"].default == 50
    )


def test_evaluate_scores_from_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    api.simulate(output_dir="sim", shape=[64, 64, 64], number_tomograms=1)
    scored = api.evaluate(
        star="sim/tomograms.star", column="rlnTomoName", ground_truth="sim/ground_truth"
    )
    assert len(scored.metrics) == 1 and scored.plots[0].is_file()
    assert 0.0 < float(scored.metrics[0]["mean_fsc_out_of_wedge"]) < 1.0  # type: ignore[arg-type]
