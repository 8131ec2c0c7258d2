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
import types
import typing
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from isonet2.config import COMMANDS, CommandConfig
from isonet2.config.argv import choices, parse_words
from isonet2.errors import UsageError

PROG = "isonet.py"
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


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _parts(info: FieldInfo) -> tuple[Any, ...]:
    annotation = info.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def field_kind(info: FieldInfo) -> str:
    """How a form shows the field: int, float, bool, text, choice or list."""
    parts = [part for part in _parts(info) if part is not type(None)]
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
    extra = _extra(info)
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
        "nullable": type(None) in _parts(info),
    }


def command_schema(model: type[CommandConfig]) -> dict[str, Any]:
    """A command's form: its name, summary, description and fields."""
    return {
        "name": model.command,
        "summary": model.summary(),
        "description": model.description(),
        "fields": [field_schema(name, info) for name, info in model.model_fields.items()],
    }


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return ",".join(_word(item) for item in value)
    return str(value).strip()


def _flag_words(name: str, value: Any) -> list[str]:
    return [f"--{name}={_word(value)}"]


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
    words = [word for name, value in kept.items() for word in _flag_words(name, value)]
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
    """The command's words (without the program name) that reproduce `cfg`.

    Positional parameters come first, as the tutorial writes them; then every other value
    that differs from its default, with the short flag where there is one (-o for output_dir).
    """
    model = type(cfg)
    fields = model.model_fields
    slots = sorted(
        (_extra(info)["positional"], name)
        for name, info in fields.items()
        if "positional" in _extra(info)
    )
    words = [model.command]
    placed = set()
    for _, name in slots:
        value = getattr(cfg, name)
        if value is None or _word(value).startswith("-"):
            break
        words.append(_word(value))
        placed.add(name)
    for name, info in fields.items():
        value = getattr(cfg, name)
        if name in placed or value == info.default:
            continue
        short = _extra(info).get("short")
        text = _word(value) if value is not None else "None"
        if text.startswith("-") and not _numeric(text):
            words.append(f"--{name}={text}")
        else:
            words += [f"-{short}" if short else f"--{name}", text]
    return words


def _numeric(text: str) -> bool:
    try:
        float(text.split(",")[0])
    except ValueError:
        return False
    return True


def command_line(words: list[str]) -> str:
    """The line a user would type: `isonet.py refine tomograms.star -o refine/job3 ...`."""
    return " ".join([PROG, *(shlex.quote(word) for word in words)])
