"""What a training run finds in its output folder: its own unfinished run, or another one.

Example:
    note = settle_run_folder(Path("01_test"), "network_isonet2-n2n_unet-medium_96",
                             cfg.model_dump(mode="json"), resume=True)
    changes = changed_settings(checkpoint["config"], cfg.model_dump(mode="json"))
    remove_leftover_temps(Path("01_test"), owned_by_training)

A rerun into a folder continues the run there when its settings match (how long and where it
runs may change). Any other run found there (other settings, method, arch or cube size, or
--resume False) is moved into earlier_run_N/ beside the new one: the tutorial trains several
recipes into one folder in turn (01_test), and nothing a user trained is overwritten.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from isonet2.errors import InputError
from isonet2.io.checkpoint import load_checkpoint

# settings a rerun may change and still continue the run it finds: how long, where and how
# fast it runs, what it writes besides the network; any other difference makes another run
_RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "gpuID",
        "ncpus",
        "cpu_workers",
        "save_interval",
        "with_preview",
        "with_predict",
        "prev_tomo_idx",
        "compile",
        "mixed_precision",
        "resume",
        "output_dir",
    }
)


def _shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def changed_settings(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """'--name old (now new)' for each setting of `wanted` that differs from the run's saved
    config and is not one a resumed run may change; settings the saved config predates are
    not compared."""
    changes = []
    for key, value in wanted.items():
        if key in _RESUMABLE_CHANGES or key not in saved:
            continue
        old = saved[key]
        if key == "star_file":
            same = os.path.normpath(str(old)) == os.path.normpath(str(value))
        elif key in ("batch_size", "method") and "auto" in (old, value):
            same = True  # auto is resolved (from the devices, the star): another spelling
        else:
            same = old == value
        if not same:
            changes.append(f"--{key} {_shown(old)} (now {_shown(value)})")
    return changes


# the loss plots of a run (TrainSpec.loss_plot_path): one network, or --split_halves' two
LOSS_PLOTS = ("loss_full.png", "loss_top.png", "loss_bottom.png")
# what a training run writes in its folder besides its checkpoints (network_*.pt)
RUN_FILES = (
    "log.txt",
    *LOSS_PLOTS,
    "refine_config.json",
    "denoise_config.json",
    "preview",
    "corrected",
    "denoised",
)
EARLIER_PREFIX = "earlier_run_"


def latest_checkpoints(folder: Path) -> list[Path]:
    """The checkpoints a run rewrites every epoch (network_*_full/top/bottom.pt), sorted;
    numbered copies (_epochN_) are not among them."""
    return sorted(
        path for path in folder.glob("network_*.pt") if not re.search(r"_epoch\d+_", path.name)
    )


def settle_run_folder(
    folder: Path, checkpoint_stem: str, config: dict[str, Any], resume: bool
) -> str | None:
    """Make `folder` ready for a run: keep a run of the same settings there to be continued,
    or set any other run aside into earlier_run_N/ (nothing is deleted). Returns a line for
    the log saying what was set aside and why, or None.

    Another run is there when its checkpoint has another method, arch or cube size, or the
    same with settings other than `config` (see `changed_settings`); --resume False sets even
    a matching run aside.
    """
    latest = latest_checkpoints(folder) if folder.is_dir() else []
    if not latest:
        return None
    ours = [path for path in latest if path.name.startswith(f"{checkpoint_stem}_")]
    others = [path for path in latest if path not in ours]
    if not resume:
        reason = "--resume False"
    elif others:
        reason = f"it holds another run ({others[0].name})"
    else:
        try:
            saved = load_checkpoint(ours[0]).get("config") or {}
        except InputError as error:  # e.g. a disk that filled while it was written
            raise InputError(
                f"{error}; to train afresh instead of resuming, delete it or give --resume False"
            ) from None
        changes = changed_settings(saved, config)
        if not changes:
            return None  # the trainer continues it
        reason = f"its run had other settings: {'; '.join(changes)}"
    aside = set_aside(folder)
    return f"{folder}: {reason}; moved that run to {aside}/ and starting a new one"


def set_aside(folder: Path) -> Path:
    """Move a run's files (checkpoints and RUN_FILES) into a new folder/earlier_run_N.

    The log is copied, not moved, while this process writes to it (a shell's `>> log.txt`
    redirect keeps writing into the moved file otherwise)."""
    number = 1
    while (folder / f"{EARLIER_PREFIX}{number}").exists():
        number += 1
    aside = folder / f"{EARLIER_PREFIX}{number}"
    aside.mkdir()
    for entry in sorted(folder.iterdir()):
        if not (entry.name.startswith("network_") or entry.name in RUN_FILES):
            continue
        if entry.name == "log.txt" and written_by_this_process(entry, (1, 2)):
            shutil.copy2(entry, aside / entry.name)
        else:
            os.replace(entry, aside / entry.name)
    return aside


def written_by_this_process(path: Path, descriptors: tuple[int, ...]) -> bool:
    """Whether one of this process's file `descriptors` (1 stdout, 2 stderr) is the file
    `path`, as under `isonet.py refine ... >> 01_test/log.txt 2>&1`."""
    for descriptor in descriptors:
        try:
            if Path(f"/proc/self/fd/{descriptor}").resolve() == path.resolve():
                return True
        except OSError:
            pass
    return False


def stderr_writes_into(log: Path) -> bool:
    """Whether this process's stderr already goes into the existing file `log` (a captured
    stderr without a file descriptor does not)."""
    try:
        return log.exists() and written_by_this_process(log, (sys.stderr.fileno(),))
    except (OSError, ValueError):  # a stderr without a file descriptor (captured)
        return False


def owned_by_training(name: str) -> bool:
    """Files of the output folder that training writes (checkpoints, loss plot, run record)."""
    return name.startswith("network_") or name in LOSS_PLOTS or name.endswith("_config.json")
