"""Which settings a resumed run may change; how another run is set aside."""

import subprocess
import sys
from pathlib import Path

from isonet2.train.runfolder import changed_settings, latest_checkpoints, set_aside

SAVED = {
    "star_file": "tomograms.star",
    "loss_func": "L2",
    "batch_size": "auto",
    "noise_level": [0.1, 0.2],
    "epochs": 10,
    "gpuID": "0",
    "ncpus": 4,
}


def test_run_settings_must_match_and_the_rest_may_change() -> None:
    same = {**SAVED, "star_file": "./tomograms.star", "epochs": 20, "gpuID": "0,1", "ncpus": 8}
    assert changed_settings(SAVED, same) == []
    assert changed_settings(SAVED, {**SAVED, "batch_size": 4}) == []  # auto is a number
    changed = {**SAVED, "loss_func": "L1", "noise_level": [0.1], "star_file": "other.star"}
    assert changed_settings(SAVED, changed) == [
        "--star_file tomograms.star (now other.star)",
        "--loss_func L2 (now L1)",
        "--noise_level 0.1,0.2 (now 0.1)",
    ]


def test_settings_a_checkpoint_predates_are_not_compared() -> None:
    assert changed_settings(SAVED, {**SAVED, "train_mirrors": True}) == []


def test_set_aside_moves_a_run_and_copies_the_log_this_process_writes(tmp_path: Path) -> None:
    """Under `isonet.py refine ... >> 01_test/log.txt 2>&1` a moved log.txt would take the new
    run's output with it; it is copied instead."""
    run = tmp_path / "01_test"
    (run / "preview").mkdir(parents=True)
    for name in ("network_isonet2_unet-small_32_full.pt", "loss_full.png", "refine_config.json"):
        (run / name).write_text(name)
    (run / "log.txt").write_text("earlier run\n")
    (run / "notes.txt").write_text("mine")  # not a training output: stays
    code = "from pathlib import Path; from isonet2.train.runfolder import set_aside; "
    code += f"print('aside', set_aside(Path({str(run)!r})))"
    with (run / "log.txt").open("a") as log:
        subprocess.run([sys.executable, "-c", code], stdout=log, check=True)
    aside = run / "earlier_run_1"
    assert sorted(p.name for p in run.iterdir()) == ["earlier_run_1", "log.txt", "notes.txt"]
    assert (aside / "log.txt").read_text() == "earlier run\n"
    assert (run / "log.txt").read_text() == f"earlier run\naside {aside}\n"
    assert (aside / "loss_full.png").read_text() == "loss_full.png" and (aside / "preview").is_dir()
    # a second run set aside goes beside the first; a log nobody writes to is moved
    (run / "network_isonet2_unet-small_32_full.pt").write_text("second")
    assert set_aside(run) == run / "earlier_run_2"
    assert sorted(p.name for p in run.iterdir()) == ["earlier_run_1", "earlier_run_2", "notes.txt"]


def test_two_different_numeric_batch_sizes_are_a_change() -> None:
    assert changed_settings({"batch_size": 4}, {"batch_size": 8}) == ["--batch_size 4 (now 8)"]
    assert changed_settings({"method": "isonet2"}, {"method": "isonet2-n2n"}) != []


def test_numbered_copies_of_any_epoch_are_not_latest_checkpoints(tmp_path: Path) -> None:
    names = [
        "network_a_full.pt",
        "network_a_epoch5_full.pt",
        "network_a_epoch10_full.pt",
        "network_a_epoch120_top.pt",
        "network_a_top.pt",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in latest_checkpoints(tmp_path)] == [
        "network_a_full.pt",
        "network_a_top.pt",
    ]
