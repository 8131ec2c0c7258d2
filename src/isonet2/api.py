"""Every command as a Python function: the parameters of its flags, its result returned.

Example:
    from isonet2 import api
    api.prepare_star(even="tomograms/EVN", odd="tomograms/ODD", pixel_size=5.4)
    trained = api.refine("tomograms.star", output_dir="01_test", CTF_mode="network")
    done = api.predict("tomograms.star", trained.checkpoints[0], output_dir="corrected")
    done.outputs                                  # [Path('corrected/TS_01_EVN_....mrc'), ...]

A function takes the command's positional arguments in their order and every flag as a
keyword, spelled as on the command line (`pixel_size`, `pixelsize`, `CTF_mode`, `ctfmode`)
with Python values (10.0, True, [39057.0, 14817.0], "1-3", Path("x.mrc")). It runs exactly what
`isonet.py <command>` runs and returns the pipeline's result object.
Mistakes raise `isonet2.errors.InputError` (`UsageError` for a bad parameter) with the
one-line message the command line prints; Ctrl-C raises KeyboardInterrupt after the
half-written files are removed. Logging is left to the caller (`logging.basicConfig(level=
logging.INFO)` shows the command's messages); progress bars go to stderr. `gui` is not here:
it serves until stopped (`isonet.py gui`).
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from isonet2.config import COMMANDS
from isonet2.config.argv import flag_table, normalise_flag, positionals, validation_message
from isonet2.errors import UsageError

__all__ = [
    "deconv",
    "demo",
    "denoise",
    "evaluate",
    "make_mask",
    "predict",
    "prepare_star",
    "refine",
    "run_command",
    "simulate",
]


def run_command(command: str, *args: Any, **parameters: Any) -> Any:
    """Run `command` (e.g. "refine") with positional `args` and keyword `parameters`."""
    model = COMMANDS.get(command)
    if model is None or command == "gui":
        known = ", ".join(name for name in COMMANDS if name != "gui")
        raise UsageError(f"no command '{command}' in the Python API; one of {known}")
    slots = positionals(model)
    if len(args) > len(slots):
        raise UsageError(
            f"{command}() takes {len(slots)} positional argument(s) ({', '.join(slots)}), "
            f"got {len(args)}"
        )
    values = {name: _plain(value) for name, value in zip(slots, args, strict=False)}
    table = flag_table(model)
    for key, value in parameters.items():
        name = table.get(normalise_flag(key))
        if name is None:
            close = difflib.get_close_matches(normalise_flag(key), list(table), n=1, cutoff=0.75)
            hint = f"; did you mean {table[close[0]]}=?" if close else ""
            raise UsageError(f"{command}() has no parameter '{key}'{hint}")
        if name in values:
            raise UsageError(f"{command}() got '{name}' twice")
        values[name] = _plain(value)
    try:
        cfg = model.model_validate(values)
    except ValidationError as error:
        raise UsageError(validation_message(model, error)) from None
    pipeline = importlib.import_module(f"isonet2.pipeline.{command}")
    return pipeline.run(cfg)


def _plain(value: Any) -> Any:
    """A path (pathlib.Path, os.PathLike) as the string the command line would give."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _command(name: str) -> Callable[..., Any]:
    model = COMMANDS[name]

    def call(*args: Any, **parameters: Any) -> Any:
        return run_command(name, *args, **parameters)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = (
        f"{model.summary()}\n\nThe parameters of `isonet.py {name} -h`, as keywords; "
        f"positional: {', '.join(positionals(model)) or 'none'}.\n\n{model.description()}"
    )
    return call


prepare_star = _command("prepare_star")
deconv = _command("deconv")
make_mask = _command("make_mask")
refine = _command("refine")
denoise = _command("denoise")
predict = _command("predict")
simulate = _command("simulate")
evaluate = _command("evaluate")
demo = _command("demo")
