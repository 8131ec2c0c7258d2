"""Bad values on the command line: one line naming the flag, exit code 2, nothing run.

Every case is refused while the config is validated, before a file is read, so the star
files and checkpoints named here need not exist.
"""

from __future__ import annotations

import os

import pytest

from isonet2.cli import run
from isonet2.config import PredictConfig, PrepareStarConfig, RefineConfig
from isonet2.config.argv import parse_command_line
from isonet2.config.base import MAX_BATCH_SIZE, MAX_INDEX, MAX_SEED, parse_index_selection


def refused(capsys: pytest.CaptureFixture[str], line: str) -> str:
    """Run `line`; assert exit code 2 and one line on stderr; return that line."""
    assert run(line.split()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("prepare_star full --pixel_size inf", "--pixel_size 'inf': must be a finite number"),
        ("prepare_star full --pixel_size nan", "--pixel_size 'nan': must be a finite number"),
        ("prepare_star full --defocus inf", "--defocus 'inf': must be a finite number"),
        ("prepare_star full --defocus 30000,nan", "--defocus 'nan': must be a finite number"),
        ("prepare_star full --voltage inf", "--voltage 'inf': must be a finite number"),
        ("prepare_star full --cs -inf", "--cs '-inf': must be a finite number"),
        ("refine t.star --noise_level nan", "--noise_level 'nan': must be a finite number"),
        ("refine t.star --learning_rate inf", "--learning_rate 'inf': must be a finite number"),
        (
            "refine t.star --CTF_mode wiener --deconvstrength nan",
            "--deconvstrength 'nan': must be a finite number",
        ),
        (
            "refine t.star --CTF_mode wiener --deconvstrength inf",
            "--deconvstrength 'inf': must be a finite number",
        ),
        (
            "refine t.star --CTF_mode wiener --snrfalloff inf",
            "--snrfalloff 'inf': must be a finite number",
        ),
        ("denoise t.star --bfactor inf", "--bfactor 'inf': must be a finite number"),
        ("deconv t.star --snrfalloff inf", "--snrfalloff 'inf': must be a finite number"),
        ("deconv t.star --deconvstrength nan", "--deconvstrength 'nan': must be a finite number"),
        (
            "evaluate V --reference G --pixel_size inf",
            "--pixel_size 'inf': must be a finite number",
        ),
        ("simulate --snr inf", "--snr 'inf': must be a finite number"),
        ("predict t.star m.pt --padding_factor nan", "--padding_factor 'nan': must be a finite"),
    ],
)
def test_infinite_or_nan_numbers_are_refused(
    capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    assert message in refused(capsys, line)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("refine t.star --seed -1", "--seed '-1': Input should be greater than or equal to 0"),
        ("denoise t.star --seed -5", "--seed '-5': Input should be greater than or equal to 0"),
        (f"refine t.star --seed {MAX_SEED + 1}", "--seed"),
        ("simulate --seed 99999999999999999999", "--seed"),
        ("demo --seed 99999999999999999999", "--seed"),
    ],
)
def test_seeds_outside_the_generators_range_are_refused(
    capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    assert message in refused(capsys, line)


@pytest.mark.parametrize("command", ["refine", "denoise"])
@pytest.mark.parametrize(("value", "bound"), [("1000", "less than or equal to 5"), ("-6", "5")])
def test_training_deconvstrength_has_deconvs_bounds(
    capsys: pytest.CaptureFixture[str], command: str, value: str, bound: str
) -> None:
    err = refused(capsys, f"{command} t.star --CTF_mode wiener --deconvstrength {value}")
    assert f"--deconvstrength '{value}'" in err and bound in err


@pytest.mark.parametrize("command", ["refine t.star --CTF_mode wiener", "deconv t.star"])
def test_snrfalloff_that_would_overflow_is_refused(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert "--snrfalloff '1e307'" in refused(capsys, f"{command} --snrfalloff 1e307")


def test_learning_rate_min_above_the_start_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "refine t.star --learning_rate_min 1")
    assert "--learning_rate_min (1) is above --learning_rate (0.0003)" in err
    err = refused(capsys, "denoise t.star --learning_rate 1e-4 --learning_rate_min 2e-4")
    assert "--learning_rate_min" in err
    cfg = parse_command_line(RefineConfig, ["t.star", "--learning_rate_min", "3e-4"])
    assert isinstance(cfg, RefineConfig) and cfg.learning_rate_min == cfg.learning_rate
    # only a start below the default end given: the end follows it (a tenth, as by default)
    cfg = parse_command_line(RefineConfig, ["t.star", "--learning_rate", "1e-5"])
    assert isinstance(cfg, RefineConfig) and cfg.learning_rate_min == pytest.approx(1e-6)


def test_an_adamw_beta2_outside_zero_to_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--adamw_beta2" in refused(capsys, "refine t.star --adamw_beta2 1")
    assert "--adamw_beta2" in refused(capsys, "denoise t.star --adamw_beta2 -0.1")
    cfg = parse_command_line(RefineConfig, ["t.star", "--adamw_beta2", "0.99"])
    assert isinstance(cfg, RefineConfig) and cfg.adamw_beta2 == 0.99


def test_a_warmup_as_long_as_the_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "refine t.star --epochs 5 --warmup_epochs 5")
    assert "--warmup_epochs (5) is not below --epochs (5)" in err
    assert "--warmup_epochs" in refused(capsys, "denoise t.star --epochs 2 --warmup_epochs 3")
    assert "--warmup_epochs" in refused(capsys, "refine t.star --warmup_epochs -1")
    cfg = parse_command_line(RefineConfig, ["t.star", "--epochs", "5", "--warmup_epochs", "4"])
    assert isinstance(cfg, RefineConfig) and cfg.warmup_epochs == 4


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--noise_level 0.1,0.2", "--noise_level has 2 values but --noise_start_iter 1"),
        (
            "--noise_level 0.1,0.2 --noise_start_iter 0",
            "--noise_level has 2 values but --noise_start_iter 1",
        ),
        ("--noise_level 0.1 --noise_start_iter 0,5", "--noise_level has 1 values"),
        ("--noise_level 0.1,0.2 --noise_start_iter 0,-1", "start epochs count from 0"),
        ("--noise_level 0.1,0.2 --noise_start_iter 4,4", "the same start epoch"),
        ("--epochs 10 --noise_level 0.1,0.2 --noise_start_iter 0,10", "not below --epochs 10"),
        ("--epochs 10 --noise_level 0.2 --noise_start_iter 12", "not below --epochs 10"),
    ],
)
def test_inconsistent_noise_schedules_are_refused(
    capsys: pytest.CaptureFixture[str], flags: str, message: str
) -> None:
    assert message in refused(capsys, f"refine t.star {flags}")


@pytest.mark.parametrize(
    ("flags", "levels", "starts"),
    [
        ([], [0.0], [0]),
        (["--noise_level", "0.2"], [0.2], [0]),
        (["--noise_level", "0.2", "--noise_start_iter", "5"], [0.2], [5]),
        (["--noise_level", "0.1,0.2", "--noise_start_iter", "0,10"], [0.1, 0.2], [0, 10]),
        (["--noise_level", "0.2,0.1", "--noise_start_iter", "10,0"], [0.2, 0.1], [10, 0]),
    ],
)
def test_consistent_noise_schedules_are_kept(
    flags: list[str], levels: list[float], starts: list[int]
) -> None:
    cfg = parse_command_line(RefineConfig, ["t.star", *flags])
    assert isinstance(cfg, RefineConfig)
    assert (cfg.noise_level, cfg.noise_start_iter) == (levels, starts)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "make_mask t.star --patch_size 99999999999999999999",
            "--patch_size '99999999999999999999': Input should be less than or equal to 128",
        ),
        (
            "predict t.star m.pt --batch_size 99999999999999999999",
            f"--batch_size '99999999999999999999': batch size must be at most {MAX_BATCH_SIZE}",
        ),
        (f"refine t.star --batch_size {MAX_BATCH_SIZE + 1}", "batch size must be at most 4096"),
        ("predict t.star m.pt --batch_size 0", "batch size must be at least 1, or auto"),
        (
            "refine t.star --ncpus 99999999999999999999",
            "--ncpus '99999999999999999999': Input should be less than or equal to 256",
        ),
        (
            "prepare_star full --number_subtomos 99999999999999999999",
            "number of subtomograms must be between 1 and 1,000,000, or auto",
        ),
    ],
)
def test_sizes_have_an_upper_bound(
    capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    assert message in refused(capsys, line)


def test_largest_batch_is_accepted() -> None:
    cfg = parse_command_line(PredictConfig, ["t.star", "m.pt", "--batch_size", "4096"])
    assert isinstance(cfg, PredictConfig) and cfg.batch_size == MAX_BATCH_SIZE


@pytest.mark.parametrize("command", ["refine t.star", "denoise t.star", "predict t.star m.pt"])
def test_more_cpu_workers_than_cpus_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    err = refused(capsys, f"{command} --cpu_workers 3")
    assert "--cpu_workers '3': this machine has 2 CPUs; give at most 2" in err


def test_as_many_cpu_workers_as_cpus_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    cfg = parse_command_line(RefineConfig, ["t.star", "--cpu_workers", "2"])
    assert isinstance(cfg, RefineConfig) and cfg.cpu_workers == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--defocus -5", "--defocus: must be >= 0 Å (underfocus positive; 0 = no CTF), got -5"),
        ("--defocus 30000,-1", "got 30000,-1"),
        ("--defocus [1,", "--defocus '[1,': the list is not closed"),
        ("--defocus (1,2", "--defocus '(1,2': the list is not closed"),
        ("--defocus 1,,2", "--defocus '1,,2': not a list of values like 1,2 or [1,2]"),
        ("--defocus 1,2]", "--defocus '1,2]': not a list of values"),
        ("--defocus 1,", "--defocus '1,': not a list of values"),
        ("--defocus []", "--defocus '[]': give at least one value"),
        ("--defocus=[1,[2]]", "--defocus '[1,[2]]': not a list of values"),
    ],
)
def test_prepare_star_refuses_bad_defocus(
    capsys: pytest.CaptureFixture[str], flags: str, message: str
) -> None:
    assert message in refused(capsys, f"prepare_star full {flags}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", [0.0]), ("[1, 2]", [1.0, 2.0]), ("(1,2)", [1.0, 2.0]), ("'1','2'", [1.0, 2.0])],
)
def test_well_formed_defocus_lists_are_read(text: str, expected: list[float]) -> None:
    cfg = parse_command_line(PrepareStarConfig, ["full", "--defocus", text])
    assert isinstance(cfg, PrepareStarConfig) and cfg.defocus == expected


@pytest.mark.parametrize("prefix", ["../../escape_", "sub/run_", "/tmp/x_", "..\\up_"])
def test_output_prefix_cannot_name_a_folder(
    capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    err = refused(capsys, f"predict t.star m.pt --output_prefix {prefix}")
    assert f"--output_prefix {prefix!r}: a file name prefix cannot hold '/'" in err
    assert "--output_dir" in err


@pytest.mark.parametrize("prefix", ["a\nb_", "tab\t_", "bell\x07_"])
def test_output_prefix_cannot_hold_a_line_break_or_control_character(
    capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    """A line break went into the map's name and, from there, split the star's row in two."""
    assert run(["predict", "t.star", "m.pt", "--output_prefix", prefix]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a line break or another control character" in err, err


def test_plain_output_prefix_is_accepted() -> None:
    cfg = parse_command_line(PredictConfig, ["t.star", "m.pt", "--output_prefix", "run1_"])
    assert isinstance(cfg, PredictConfig) and cfg.output_prefix == "run1_"


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ("1-99999999999", "index 99999999999 is beyond any star file's rows"),
        ("3,2000000", "index 2000000 is beyond any star file's rows"),
        ("5-3", "range '5-3' runs backwards; write it as 3-5"),
        ("1,x", "'x' is not an index or a range like 3-5"),
    ],
)
def test_tomo_idx_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], selection: str, message: str
) -> None:
    """A range to 10**11 built the whole list first: a MemoryError traceback."""
    assert message in refused(capsys, f"deconv t.star --tomo_idx {selection}")


def test_tomo_idx_reads_ranges_and_lists() -> None:
    assert parse_index_selection("[1, 3-5,4]") == [1, 3, 4, 5]
    assert parse_index_selection("all") is None
    assert len(parse_index_selection(f"1-{MAX_INDEX}") or []) == MAX_INDEX


def test_isonet1_spellings_are_accepted() -> None:
    cfg = parse_command_line(
        RefineConfig,
        ["t.star", "--iterations", "7", "--noise_start_epoch", "0,3", "--noise_level", "0.1,0.2"],
    )
    assert isinstance(cfg, RefineConfig)
    assert cfg.epochs == 7 and cfg.noise_start_iter == [0, 3]
    prep = parse_command_line(PrepareStarConfig, ["--full", "f", "--apix", "5.4"])
    assert isinstance(prep, PrepareStarConfig) and prep.pixel_size == 5.4


def test_an_ema_decay_of_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--ema_decay" in refused(capsys, "refine t.star --ema_decay 1")


def test_a_padding_factor_below_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--padding_factor" in refused(capsys, "predict t.star m.pt --padding_factor 0.5")
