"""Config model -> form schema, and form values -> a validated config, argv and command line.

Example:
    schema = command_schema(COMMANDS["refine"])          # fields, defaults, help, choices
    cfg = form_config("refine", {"epochs": 1}, output_dir="refine/job3")
    argv = command_words(cfg)       # ["refine", "tomograms.star", "-o", "refine/job3", ...]

Form values go through the same parser as command-line words (`config.argv.parse_words`), so
the form accepts exactly what the command line accepts, and a mistake is reported with the
config model's own message, keyed by the field it concerns ("__all__" when none).
"""

from __future__ import annotations

import shlex
import typing
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from isonet2.config import COMMANDS, CommandConfig
from isonet2.config.argv import (
    choices,
    field_extra,
    parse_words,
    to_command_line,
    type_parts,
    value_word,
)
from isonet2.errors import UsageError
from isonet2.program import PROG

OUTPUT_FIELD = "output_dir"
# the tutorial's order first; commands the GUI does not offer are left out
TUTORIAL_ORDER = ("prepare_star", "deconv", "make_mask", "denoise", "refine", "predict")
NOT_OFFERED = {"gui", "demo"}


class FormError(Exception):
    """Form values the config model rejects: {field or "__all__": message}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {value}" for key, value in errors.items()))
        self.errors = errors


def offered_commands() -> list[str]:
    """Command names in the order the GUI shows them."""
    rest = [name for name in COMMANDS if name not in TUTORIAL_ORDER and name not in NOT_OFFERED]
    return [*TUTORIAL_ORDER, *rest]


def field_kind(info: FieldInfo) -> str:
    """How a form shows the field: int, float, bool, text, choice or list."""
    parts = [part for part in type_parts(info.annotation) if part is not type(None)]
    if any(typing.get_origin(part) is list for part in parts):
        return "list"
    if bool in parts:
        return "bool"
    if choices(info) and all(typing.get_origin(part) is typing.Literal for part in parts):
        return "choice"
    if float in parts:
        return "float"
    if int in parts:
        return "int"
    return "text"


def field_schema(name: str, info: FieldInfo) -> dict[str, Any]:
    """One form field, all of it read from the config model."""
    extra = field_extra(info)
    short = extra.get("short")
    return {
        "name": name,
        "flag": f"--{name}",
        "short": f"-{short}" if short else None,
        "kind": field_kind(info),
        "default": None if info.is_required() else to_jsonable_python(info.default),
        "help": info.description or "",
        "unit": extra.get("unit"),
        "choices": list(choices(info)) or None,
        "required": info.is_required(),
        "positional": extra.get("positional"),
        "readonly": name == OUTPUT_FIELD,
        "nullable": type(None) in type_parts(info.annotation),
        "shown_default": extra.get("shown_default"),
    }


def command_schema(model: type[CommandConfig]) -> dict[str, Any]:
    """A command's form: its name, summary, description and fields."""
    return {
        "name": model.command,
        "summary": model.summary(),
        "description": model.description(),
        "fields": [field_schema(name, info) for name, info in model.model_fields.items()],
    }


def model_for(command: str) -> type[CommandConfig]:
    """The config model of an offered command; FormError for any other name."""
    model = COMMANDS.get(command)
    if model is None or command in NOT_OFFERED:
        raise FormError({"__all__": f"unknown command '{command}'"})
    return model


def clean_values(model: type[CommandConfig], values: dict[str, Any]) -> dict[str, Any]:
    """The values that count: known fields only, "" and null (= the default) dropped."""
    unknown = [name for name in values if name not in model.model_fields]
    if unknown:
        raise FormError({name: f"{model.command} has no parameter {name}" for name in unknown})
    return {
        name: value
        for name, value in values.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }


def form_config(command: str, values: dict[str, Any], output_dir: str | None) -> CommandConfig:
    """Validate form values as the command line would; `output_dir` overrides the form's."""
    model = model_for(command)
    kept = clean_values(model, values)
    if OUTPUT_FIELD in model.model_fields and output_dir is not None:
        kept[OUTPUT_FIELD] = output_dir
    words = [f"--{name}={value_word(value)}" for name, value in kept.items()]
    try:
        raw = parse_words(model, words)
    except UsageError as error:
        raise FormError({"__all__": str(error)}) from None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise FormError(field_errors(model, error)) from None


def field_errors(model: type[CommandConfig], error: ValidationError) -> dict[str, str]:
    """Every problem of a ValidationError, keyed by field ("__all__" for the whole form)."""
    found: dict[str, str] = {}
    for problem in error.errors():
        loc = [str(part) for part in problem.get("loc", ())]
        field = next((part for part in loc if part in model.model_fields), "__all__")
        message = str(problem.get("msg", "invalid value")).removeprefix("Value error, ")
        if problem.get("type") == "missing":
            message = "required"
        found.setdefault(field, message)
    return found


def command_words(cfg: CommandConfig) -> list[str]:
    """The command's words (without the program name) that reproduce `cfg`."""
    return to_command_line(cfg, PROG)[1:]


def command_line(words: list[str]) -> str:
    """The line a user would type: `isonet.py refine tomograms.star -o refine/job3 ...`."""
    return " ".join([PROG, *(shlex.quote(word) for word in words)])
