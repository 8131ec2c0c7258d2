"""What a training run finds in its output folder: its own unfinished run, or another one.

Example:
    check_no_other_run(Path("01_test"), "network_isonet2-n2n_unet-medium_96", resume=True)
    changes = changed_settings(checkpoint["config"], cfg.model_dump(mode="json"))
    remove_leftover_temps(Path("01_test"), owned_by_training)

A rerun into a folder continues the run there (same settings; how long and where it runs may
change), refuses another run's folder unless --resume False, and removes the temp files a
killed run of its own left.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from isonet2.errors import InputError

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
        elif key == "batch_size" and "auto" in (old, value):
            same = True  # auto is resolved from the devices: another spelling of a number
        else:
            same = old == value
        if not same:
            changes.append(f"--{key} {_shown(old)} (now {_shown(value)})")
    return changes


def check_no_other_run(output_dir: Path, checkpoint_stem: str, resume: bool) -> None:
    """InputError when the output folder holds another run's network (another method, arch or
    cube size): both runs write log.txt, loss_full.png and the run record there, and the
    earlier run's would be lost. --resume False replaces them knowingly."""
    if not resume:
        return
    others = sorted(
        path.name
        for path in output_dir.glob("network_*.pt")
        if not re.search(r"_epoch\d+_", path.name)
        and not path.name.startswith(f"{checkpoint_stem}_")
    )
    if others:
        raise InputError(
            f"{output_dir} holds another training run ({others[0]}): its log.txt, "
            "loss_full.png and run record would be replaced by this run's; choose another "
            "output folder, or add --resume False to replace them"
        )


def owned_by_training(name: str) -> bool:
    """Files of the output folder that training writes (checkpoints and the loss plot)."""
    return name.startswith("network_") or name == "loss_full.png"
