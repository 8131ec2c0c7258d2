"""The command line: flag spellings, value parsing, errors and help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from isonet2 import api
from isonet2.cli import run
from isonet2.config import COMMANDS, PrepareStarConfig, RefineConfig
from isonet2.config.argv import flag_table, parse_command_line, to_command_line
from isonet2.errors import InputError, UsageError


def parse(*words: str) -> PrepareStarConfig:
    cfg = parse_command_line(PrepareStarConfig, list(words))
    assert isinstance(cfg, PrepareStarConfig)
    return cfg


def test_spellings_of_one_flag_are_equivalent() -> None:
    for words in (
        ["--pixel_size", "5.4"],
        ["--pixelsize", "5.4"],
        ["--pixel-size", "5.4"],
        ["--pixel_size=5.4"],
        ["--PixelSize=5.4"],
    ):
        assert parse("tomos", *words).pixel_size == 5.4


def test_aliases_positionals_and_short_flags() -> None:
    cfg = parse("-e", "EVN", "-o", "ODD", "--output_star", "a.star", "--numbersubtomos", "7")
    assert (cfg.even, cfg.odd, cfg.star_name, cfg.number_subtomos) == ("EVN", "ODD", "a.star", 7)
    assert parse("tomos", "--outputstar", "b.star").star_name == "b.star"
    assert parse("tomos").full == "tomos"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("True", True), ("true", True), ("1", True), ("False", False), ("false", False), ("0", False)],
)
def test_boolean_words(word: str, expected: bool) -> None:
    assert parse("tomos", "--create_average", word).create_average is expected
    assert parse("tomos", f"--create_average={word}").create_average is expected


def test_bare_boolean_flag_before_a_positional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tomos").mkdir()
    cfg = parse("--create_average", "tomos")
    assert cfg.create_average is True and cfg.full == "tomos"
    assert parse("--create_average", "data/tomos").full == "data/tomos"  # paths need not exist


@pytest.mark.parametrize("word", ["maybe", "2", "Ture"])
def test_a_word_after_a_bare_boolean_that_is_no_path_is_a_mistyped_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, word: str
) -> None:
    monkeypatch.chdir(tmp_path)  # was read as the folder of full tomograms: 'maybe: no such folder'
    with pytest.raises(UsageError, match=f"--create_average takes True or False .*not '{word}'"):
        parse("--even", "E", "--odd", "O", "--create_average", word)


@pytest.mark.parametrize("text", ["[39057,14817]", "39057,14817", "[39057, 14817]"])
def test_list_values(text: str) -> None:
    assert parse("tomos", "--defocus", text).defocus == [39057.0, 14817.0]


def test_single_value_for_a_list_and_negative_numbers() -> None:
    cfg = parse("tomos", "--defocus", "30000", "--tilt_min", "-50", "--tilt_max=65")
    assert cfg.defocus == [30000.0] and (cfg.tilt_min, cfg.tilt_max) == (-50.0, 65.0)


def test_unknown_flag_suggests_the_closest() -> None:
    with pytest.raises(UsageError, match=r"unknown flag --pixel_sise; did you mean --pixel_size\?"):
        parse("tomos", "--pixel_sise", "3")


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["tomos", "--pixel_size", "abc"], "--pixel_size 'abc'"),
        (["tomos", "--pixel_size", "-1"], "pixel size must be positive"),
        (["tomos", "--tilt_min", "30", "--tilt_max", "20"], "must be below --tilt_max"),
        (["--even", "EVN"], "--even and --odd must be given together"),
        ([], "give a folder of full tomograms"),
        (["tomos", "--star_name"], "--star_name needs a value"),
        (["tomos", "--cs", "1", "--cs", "2"], "given twice"),
        (["tomos", "extra"], "unexpected argument 'extra'"),
    ],
)
def test_bad_values_give_one_line(words: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(*words)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_required_value_names_the_flag_and_its_slot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["predict", "tomograms.star"]) == 2
    assert "--model is required (or as argument 2 after the command)" in capsys.readouterr().err


def test_run_exit_codes_and_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prepare_star", "tomos", "--bogus", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown flag --bogus" in err
    assert run(["prepare_sta"]) == 2
    assert "did you mean prepare_star" in capsys.readouterr().err
    assert run(["-h"]) == 0
    assert "prepare_star" in capsys.readouterr().out


def test_every_command_help_lists_every_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    for name, model in COMMANDS.items():
        assert run([name, "-h"]) == 0
        page = capsys.readouterr().out
        assert "example:" in page
        for field in model.model_fields:
            assert f"--{field}" in page


def test_flag_spellings_never_collide() -> None:
    for model in COMMANDS.values():
        flag_table(model)  # raises on a collision


def test_command_line_round_trip() -> None:
    cfg = parse("-e", "EVN", "-o", "ODD", "--defocus", "1,2", "--create_average", "True")
    words = to_command_line(cfg)[2:]
    assert parse(*words) == cfg


def test_fsc_weight_needs_the_fsc_term(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["refine", "t.star", "--fsc_weight", "2"]) == 2
    error = capsys.readouterr().err
    assert "--fsc_weight" in error and "--loss_func L2+FSC" in error
    assert len(error.strip().splitlines()) == 1
    cfg = parse_command_line(RefineConfig, ["t.star", "--loss_func", "L2+FSC", "--fsc_weight", "2"])
    assert isinstance(cfg, RefineConfig) and cfg.fsc_weight == 2.0


def test_help_and_config_do_not_import_torch() -> None:
    code = (
        "import sys, contextlib, io\n"
        "import isonet2.config\n"
        "from isonet2.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    run(['-h']); [run([c, '-h']) for c in isonet2.config.COMMANDS]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_dash_m_runs_the_command_line() -> None:
    from isonet2 import __version__

    done = subprocess.run(
        [sys.executable, "-m", "isonet2", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and __version__ in done.stdout + done.stderr
    assert done.stdout.startswith("isonet2 ")  # through isonet2.console, as the console scripts
    done = subprocess.run(
        [sys.executable, "-m", "isonet2", "no_such_command"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "no_such_command" in done.stderr


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        ("/usr/bin/isonet2", "isonet2"),
        ("isonet.py", "isonet.py"),
        ("/env/lib/python3.12/site-packages/isonet2/__main__.py", "isonet.py"),
    ],
)
def test_messages_name_the_program_as_typed(
    argv0: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from isonet2.program import prog_name

    prog = prog_name(argv0)
    assert prog == expected
    assert run(["-h"], prog) == 0
    assert capsys.readouterr().out.startswith(f"usage: {expected} <command>")
    assert run(["refnie"], prog) == 2
    assert capsys.readouterr().err.startswith(f"{expected}: unknown command 'refnie'")


def test_band_weight_default_follows_the_loss(capsys: pytest.CaptureFixture[str]) -> None:
    def weight(*words: str) -> float:
        cfg = parse_command_line(RefineConfig, ["t.star", *words])
        assert isinstance(cfg, RefineConfig)
        return cfg.band_weight

    assert weight() == 5.0
    assert weight("--loss_func", "L2+FSC") == 1.0
    assert weight("--loss_func", "L2+FSC", "--mw_weight", "2") == 2.0
    assert weight("--loss_func", "FSC") == 5.0
    assert weight("--mw_weight", "-1") == -1.0
    assert run(["refine", "-h"]) == 0
    page = " ".join(capsys.readouterr().out.split())
    assert "(default: 1 with --loss_func L2+FSC, else 5)" in page


@pytest.mark.parametrize("command", ["prepare_star", "predict", "evaluate", "refine"])
def test_help_says_required_not_an_internal_placeholder(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert run([command, "-h"]) == 0
    page = " ".join(capsys.readouterr().out.split())
    assert "Undefined" not in page
    if command == "predict":
        assert "trained checkpoint (.pt) written by refine or denoise (required)" in page


def test_an_os_error_is_one_line_naming_the_path(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import errno

    import isonet2.pipeline.simulate

    def full_disk(cfg: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "sim/full/sim_01.mrc")

    monkeypatch.setattr(isonet2.pipeline.simulate, "run", full_disk)
    assert run(["simulate", "-o", str(tmp_path / "sim")]) == 1
    err = capsys.readouterr().err
    assert err == (
        "isonet.py simulate: error: sim/full/sim_01.mrc: No space left on device; free space "
        "there or choose another output folder\n"
    )


def test_running_out_of_host_memory_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """numpy's MemoryError for a 67.6 GiB plane came as a traceback."""
    words = ["simulate", "-o", str(tmp_path / "s"), "--shape", "100000,100000,100000"]
    assert run([*words, "--ntomos", "1"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(
        "isonet.py simulate: error: out of host memory"
    )
    assert "Unable to allocate" in errors[0] and "give smaller sizes" in errors[0]
    # the Python API raised the bare MemoryError; past numpy's limit it was a ValueError
    with pytest.raises(InputError, match=r"out of host memory .*give smaller sizes"):
        api.simulate(output_dir=tmp_path / "s", shape=[100000, 100000, 100000], ntomos=1)
    with pytest.raises(UsageError, match="every axis must be at most 1000000 voxels"):
        api.simulate(output_dir=tmp_path / "s", shape=[10**20, 64, 64], ntomos=1)


@pytest.mark.parametrize(
    "words",
    [
        ["deconv", "t.star", "--deconvfolder", "afile"],
        ["make_mask", "t.star", "--maskfolder", "afile"],
        ["refine", "t.star", "--outputdir", "afile"],
        ["refine", "t.star", "-o", "afile"],
    ],
)
def test_a_folder_message_names_the_option_as_typed(
    project: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    """The tutorial's --deconvfolder, not the field's --output_dir, in the one line."""
    assert run(["prepare_star", "full", "--output_star", "t.star"]) == 0
    Path("afile").write_text("in the way")
    capsys.readouterr()
    assert run(words) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"isonet.py {words[0]}: error: {words[2]} afile: a file is in the way of this folder; "
        "choose another folder or move the file"
    )
    assert not any("error" in line for line in err[:-1])


def test_a_config_remembers_the_spelling_typed() -> None:
    cfg = parse_command_line(RefineConfig, ["t.star", "--OutputDir", "x", "--ncpu", "2"])
    assert cfg.flag("output_dir") == "--OutputDir" and cfg.flag("ncpus") == "--ncpu"
    assert cfg.flag("epochs") == "--epochs"  # not typed
    assert cfg.model_copy(update={"epochs": 3}).flag("output_dir") == "--OutputDir"


def test_configs_with_equal_values_are_equal_however_spelled() -> None:
    typed = parse_command_line(RefineConfig, ["t.star", "--OutputDir", "x"])
    assert typed == parse_command_line(RefineConfig, ["t.star", "-o", "x"])
    assert typed != parse_command_line(RefineConfig, ["t.star", "-o", "y"])


def test_under_an_outer_torchrun_only_rank_0_logs_information(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from isonet2.cli import _setup_logging

    package = logging.getLogger("isonet2")
    monkeypatch.setattr(package, "level", package.level)  # restored after the test
    for rank, level in (("1", logging.WARNING), ("0", logging.INFO)):
        monkeypatch.setenv("RANK", rank)
        _setup_logging()
        assert package.level == level


STOPPED_WHILE_LOADING = """
import importlib, os, signal, sys
import isonet2.cli
real = importlib.import_module
def loading(name, *args):  # the command's module (torch with it) loads for seconds
    if name.startswith("isonet2.pipeline."):
        os.kill(os.getpid(), signal.SIGTERM)
    return real(name, *args)
importlib.import_module = loading
sys.exit(isonet2.cli.run(["simulate", "-o", sys.argv[1]]))
"""


def test_a_stop_while_the_command_loads_is_one_line(tmp_path: Path) -> None:
    """SIGTERM in a command's first seconds (a GUI Cancel just after the start) ended it with
    no line and exit -15: the pipeline was imported before the signals were handled."""
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_WHILE_LOADING, str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip().splitlines() == ["isonet.py simulate: stopped by SIGTERM"]
    assert not (tmp_path / "s").exists()
