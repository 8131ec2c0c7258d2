"""Which settings a resumed run may change."""

from isonet2.train.runfolder import changed_settings

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
