"""Command-line words <-> a command's config model, and the `--help` text, generated from it.

Example:
    cfg = parse_command_line(PrepareStarConfig, ["-e", "EVN", "-o", "ODD", "--pixelsize=5.4"])
    print(help_text(PrepareStarConfig, prog="isonet.py"))

Flag names are compared without case, '-' and '_', so --output_dir, --outputdir, --output-dir
and --outputDir are one flag. Booleans take True/False/true/false/1/0/yes/no or stand bare;
lists take "[1,2]" or 1,2; the word None clears an optional value.
"""

from __future__ import annotations

import difflib
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from isonet2.config.base import CommandConfig
from isonet2.errors import UsageError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}


def normalise_flag(name: str) -> str:
    """The comparison key of a flag: no leading dashes, no case, no '-' or '_'."""
    return name.lstrip("-").lower().replace("-", "").replace("_", "")


def field_extra(info: FieldInfo) -> dict[str, Any]:
    """What `param(...)` stored beside the field: unit, aliases, short, positional."""
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def type_parts(annotation: Any) -> tuple[Any, ...]:
    """The members of a Union annotation (X | Y), or the annotation alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _is_bool(info: FieldInfo) -> bool:
    return bool in type_parts(info.annotation)


def is_list(info: FieldInfo) -> bool:
    return any(typing.get_origin(part) is list for part in type_parts(info.annotation))


def _allows_none(info: FieldInfo) -> bool:
    return type(None) in type_parts(info.annotation)


def choices(info: FieldInfo) -> list[Any]:
    """The allowed values of a Literal-typed field (auto-like words included)."""
    found: list[Any] = []
    for part in type_parts(info.annotation):
        if typing.get_origin(part) is Literal:
            found.extend(typing.get_args(part))
    return found


def flag_table(model: type[CommandConfig]) -> dict[str, str]:
    """Every accepted spelling (normalised) -> field name; spellings must not collide."""
    table: dict[str, str] = {}
    for name, info in model.model_fields.items():
        for spelling in (name, *field_extra(info).get("aliases", [])):
            key = normalise_flag(spelling)
            if table.get(key, name) != name:
                raise RuntimeError(f"{model.command}: flag {spelling} names two parameters")
            table[key] = name
    return table


def _short_table(model: type[CommandConfig]) -> dict[str, str]:
    return {
        field_extra(info)["short"]: name
        for name, info in model.model_fields.items()
        if "short" in field_extra(info)
    }


def positionals(model: type[CommandConfig]) -> list[str]:
    """The fields that may stand as bare arguments after the command, in slot order."""
    slots = [
        (field_extra(info)["positional"], name)
        for name, info in model.model_fields.items()
        if "positional" in field_extra(info)
    ]
    return [name for _, name in sorted(slots)]


def convert_word(info: FieldInfo, text: str, flag: str) -> Any:
    """A command-line word -> the raw value pydantic validates (`flag` names it in errors)."""
    word = text.strip()
    if _allows_none(info) and word.lower() in _NONE:
        return None
    if _is_bool(info) and word.lower() in _TRUE | _FALSE:
        return word.lower() in _TRUE
    if is_list(info):
        return _split_list(word, flag)
    return word


def _split_list(word: str, flag: str) -> list[str]:
    """ "[1,2]", "(1,2)" or "1,2" -> ["1", "2"]. Unclosed brackets and empty items are errors,
    so a mistyped list such as "[1," is never read as a shorter one."""
    closing = {"[": "]", "(": ")"}
    inner = word
    if word[:1] in closing:
        if word[-1:] != closing[word[0]] or len(word) < 2:
            raise UsageError(f"{flag} {word!r}: the list is not closed; write it as 1,2 or [1,2]")
        inner = word[1:-1]
    if not inner.strip():
        raise UsageError(f"{flag} {word!r}: give at least one value, e.g. 1 or 1,2")
    items = [item.strip().strip("'\"") for item in inner.split(",")]
    if any(not item or any(mark in item for mark in "[]()") for item in items):
        raise UsageError(
            f"{flag} {word!r}: not a list of values like 1,2 or [1,2] (an item is empty or "
            "holds a bracket)"
        )
    return items


def _unknown(command: str, flag: str, table: dict[str, str]) -> UsageError:
    options = {normalise_flag(name): name for name in table.values()}
    options.update({key: table[key] for key in table})
    close = difflib.get_close_matches(normalise_flag(flag), list(options), n=1, cutoff=0.75)
    hint = f"; did you mean --{table[close[0]]}?" if close else f"; see isonet.py {command} -h"
    return UsageError(f"unknown flag {flag}{hint}")


def parse_words(
    model: type[CommandConfig], argv: list[str], spelled: dict[str, str] | None = None
) -> dict[str, Any]:
    """Split command-line words into {field name: raw value}, without validating values.

    `spelled`, when given, receives {field name: the option as typed} (e.g. --deconvfolder).
    """
    fields = model.model_fields
    table, shorts, slots = flag_table(model), _short_table(model), positionals(model)
    values: dict[str, Any] = {}
    spelled = {} if spelled is None else spelled
    words = list(argv)
    free: list[str] = []
    while words:
        word = words.pop(0)
        is_flag = word.startswith("--") or (
            word.startswith("-") and len(word) > 1 and not _looks_numeric(word)
        )
        if not is_flag:
            free.append(word)
            continue
        flag, has_eq, inline = word.partition("=")
        long_flag = flag.startswith("--")
        name = table.get(normalise_flag(flag)) if long_flag else shorts.get(flag[1:])
        if name is None:
            raise _unknown(model.command, flag, table)
        if name in values:
            raise UsageError(f"{flag} is given twice")
        info = fields[name]
        if has_eq:
            values[name] = convert_word(info, inline, flag)
        elif _is_bool(info) and (not words or words[0].lower() not in _TRUE | _FALSE | _NONE):
            if words and not words[0].startswith("-") and not _could_be_positional(words[0]):
                raise UsageError(  # e.g. --create_average maybe: not a folder named 'maybe'
                    f"{flag} takes True or False (or stands alone for True), not "
                    f"'{words[0]}' (no file or folder of that name is here either)"
                )
            values[name] = True
        elif not words or words[0].startswith("--"):
            raise UsageError(f"{flag} needs a value")
        else:
            values[name] = convert_word(info, words.pop(0), flag)
        spelled[name] = flag
    open_slots = [name for name in slots if name not in values]
    if len(free) > len(open_slots):
        extra = free[len(open_slots)]
        raise UsageError(f"unexpected argument '{extra}'; see isonet.py {model.command} -h")
    for name, word in zip(open_slots, free, strict=False):
        values[name] = convert_word(fields[name], word, f"--{name}")
    return values


def _could_be_positional(word: str) -> bool:
    """A word after a standalone boolean flag: a path (the star, a folder) or a mistyped value.

    Positional arguments are files and folders: they hold a '/' or a '.', or exist.
    """
    return "/" in word or "." in word or Path(word).exists()


def _looks_numeric(word: str) -> bool:
    try:
        float(word.split(",")[0].strip("[]"))
    except ValueError:
        return False
    return True


def validation_message(model: type[CommandConfig], error: ValidationError) -> str:
    """The first problem of a ValidationError as one line naming the flag."""
    first = error.errors()[0]
    loc = [str(part) for part in first.get("loc", ()) if not str(part).isdigit()]
    field = next((part for part in loc if part in model.model_fields), None)
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "finite_number":
        message = "must be a finite number, not inf or nan"
    if field is None:
        return message
    if first.get("type") == "missing":
        slot = field_extra(model.model_fields[field]).get("positional")
        where = "" if slot is None else f" (or as argument {slot + 1} after the command)"
        return f"--{field} is required{where}; see isonet.py {model.command} -h"
    given = first.get("input")
    shown = f" {given!r}" if isinstance(given, str | int | float) else ""
    return f"--{field}{shown}: {message}"


def parse_command_line(model: type[CommandConfig], argv: list[str]) -> CommandConfig:
    """Command-line words -> a validated config; any mistake raises UsageError (one line)."""
    spelled: dict[str, str] = {}
    values = parse_words(model, argv, spelled)
    try:
        cfg = model.model_validate(values)
    except ValidationError as error:
        raise UsageError(validation_message(model, error)) from None
    cfg._typed_flags = spelled
    return cfg


def value_word(value: Any) -> str:
    """A value as one command-line word: lists joined by commas, booleans as True/False."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return ",".join(value_word(item) for item in value)
    return str(value).strip()


def to_command_line(cfg: CommandConfig, prog: str = "isonet.py") -> list[str]:
    """The words that reproduce `cfg`: [prog, command, positionals..., changed flags...].

    Positional parameters come first, as the tutorial writes them; then every other value
    that differs from its default, with the short flag where there is one (-o for output_dir).
    A value that starts with '-' and is no number is attached with '=' so it is not a flag.
    """
    model = type(cfg)
    fields = model.model_fields
    words = [prog, model.command]
    placed = set()
    for name in positionals(model):
        value = getattr(cfg, name)
        if value is None or value_word(value).startswith("-"):
            break
        words.append(value_word(value))
        placed.add(name)
    for name, info in fields.items():
        value = getattr(cfg, name)
        if name in placed or value == info.default:
            continue
        short = field_extra(info).get("short")
        text = value_word(value) if value is not None else "None"
        if text.startswith("-") and not _looks_numeric(text):
            words.append(f"--{name}={text}")
        else:
            words += [f"-{short}" if short else f"--{name}", text]
    return words


def help_text(model: type[CommandConfig], prog: str = "isonet.py") -> str:
    """The `isonet.py <command> -h` page."""
    slots = positionals(model)
    usage = " ".join([prog, model.command, *(f"[{name}]" for name in slots), "[--flag value ...]"])
    lines = [f"usage: {usage}", "", model.summary(), ""]
    body = model.description()
    details, _, example = body.partition("Example:")
    if details.strip():
        lines += [details.strip(), ""]
    lines.append("parameters:")
    for name, info in model.model_fields.items():
        extra = field_extra(info)
        spellings = [f"--{name}"]
        if "short" in extra:
            spellings.insert(0, f"-{extra['short']}")
        spellings += [f"--{alias}" for alias in extra.get("aliases", [])]
        if "positional" in extra:
            spellings[-1] += f" (or positional argument {extra['positional'] + 1})"
        default = info.default
        shown = (
            extra["shown_default"]
            if "shown_default" in extra
            else "None"
            if default is None
            else ",".join(map(str, default))
            if isinstance(default, list)
            else str(default)
        )
        unit = f" [{extra['unit']}]" if "unit" in extra else ""
        lines.append(f"  {', '.join(spellings)}")
        meta = f"required{unit}" if info.is_required() else f"default: {shown}{unit}"
        allowed = [c for c in choices(info) if c != default or len(choices(info)) > 1]
        if allowed:
            meta += f"; choices: {', '.join(map(str, allowed))}"
        text = f"{info.description} ({meta})"
        lines += textwrap.wrap(text, width=96, initial_indent="      ", subsequent_indent="      ")
    if example.strip():
        lines += ["", "example:", *("  " + line.strip() for line in example.strip().splitlines())]
    return "\n".join(lines) + "\n"
