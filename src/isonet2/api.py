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
logging.INFO)` shows the command's messages); progress bars go to stderr; `evaluate` also
prints its JSON lines on stdout, as the command does (they are in the result's `.metrics`
too). `gui` is not here: it serves until stopped (`isonet.py gui`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from isonet2.config import COMMANDS
from isonet2.config.argv import (
    choices,
    convert_word,
    flag_table,
    is_list,
    normalise_flag,
    positionals,
    type_parts,
    validation_message,
)
from isonet2.errors import InputError, UsageError, memory_error_line
from isonet2.io.logfile import remember_warnings

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
    fields = model.model_fields
    values = {
        name: _plain(value, fields[name], name) for name, value in zip(slots, args, strict=False)
    }
    table = flag_table(model)
    for key, value in parameters.items():
        name = table.get(normalise_flag(key))
        if name is None:
            close = difflib.get_close_matches(normalise_flag(key), list(table), n=1, cutoff=0.75)
            hint = f"; did you mean {table[close[0]]}=?" if close else ""
            raise UsageError(f"{command}() has no parameter '{key}'{hint}")
        if name in values:
            raise UsageError(f"{command}() got '{name}' twice")
        values[name] = _plain(value, fields[name], name)
    try:
        cfg = model.model_validate(values)
    except ValidationError as error:
        raise UsageError(validation_message(model, error)) from None
    remember_warnings()  # as the command line does: a training's log.txt gets them
    try:
        return _PIPELINES[command].run(cfg)
    except MemoryError as error:  # the command line's line, as for every other mistake
        raise InputError(memory_error_line(error)) from None


def _plain(value: Any, info: FieldInfo, name: str) -> Any:
    """`value` as the config takes it: a path (os.PathLike) or a number where a text goes
    (gpuID=0) as the command line's word, a string through the command line's own reading
    ("1e4,2e4" for a list), None for a choice that has "None" (CTF_mode=None)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None and "None" in choices(info):
        return "None"
    if isinstance(value, str):
        return convert_word(info, value, f"--{name}")
    kinds = type_parts(info.annotation)
    if isinstance(value, bool) and bool not in kinds and (int in kinds or float in kinds):
        # pydantic reads True as 1: number_subtomos=True trained on one cube per tomogram
        raise UsageError(f"--{name}: {value} is a truth value, not a number")
    takes_text = str in kinds and not is_list(info)
    if takes_text and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if takes_text and isinstance(value, list | tuple) and all(isinstance(v, int) for v in value):
        return ",".join(str(v) for v in value)
    return value


def _command(name: str) -> Callable[..., Any]:
    model = COMMANDS[name]

    def call(*args: Any, **parameters: Any) -> Any:
        return run_command(name, *args, **parameters)

    slots = positionals(model)
    # what help() and a notebook's completion show: positionals, then every flag by name
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                field,
                inspect.Parameter.POSITIONAL_OR_KEYWORD
                if field in slots
                else inspect.Parameter.KEYWORD_ONLY,
                default=info.default,
            )
            for field, info in sorted(
                model.model_fields.items(),
                key=lambda item: slots.index(item[0]) if item[0] in slots else len(slots),
            )
        ]
    )
    call.__name__ = call.__qualname__ = name
    call.__doc__ = (
        f"{model.summary()}\n\nThe parameters of `isonet.py {name} -h`, as keywords; "
        f"positional: {', '.join(positionals(model)) or 'none'}.\n\n{model.description()}"
    )
    return call


# imported now, not at the first call: a Ctrl-C in the middle of torch's first import left
# torch half-imported for the rest of a notebook's session
_PIPELINES = {
    name: importlib.import_module(f"isonet2.pipeline.{name}")
    for name in __all__
    if name != "run_command"
}

prepare_star = _command("prepare_star")
deconv = _command("deconv")
make_mask = _command("make_mask")
refine = _command("refine")
denoise = _command("denoise")
predict = _command("predict")
simulate = _command("simulate")
evaluate = _command("evaluate")
demo = _command("demo")
