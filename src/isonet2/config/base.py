"""The mechanism every command's config model shares: parameters with help, units and flags.

Example:
    class DemoConfig(CommandConfig):
        '''Say hello.'''
        name: str = param("world", "who to greet", aliases=("who",))

A parameter is a pydantic field whose `json_schema_extra` carries the command-line facts
(aliases, short flag, positional slot, unit). The CLI, `--help`, the saved run config and the
GUI forms are all generated from these models, so a default is written exactly once.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator


def param(
    default: Any,
    help: str,
    *,
    unit: str | None = None,
    aliases: tuple[str, ...] = (),
    short: str | None = None,
    positional: int | None = None,
    shown_default: str | None = None,
    **constraints: Any,
) -> Any:
    """A config field with its help text and command-line spelling.

    `aliases` are extra long-flag spellings (compared without case, '-' and '_');
    `short` is a one-letter flag such as "e" for `-e`; `positional` is the slot (0, 1, ...)
    the value may also be given in without a flag; `shown_default` is what help prints as
    the default where the field's own default (e.g. None) is resolved later.
    """
    extra: dict[str, Any] = {"aliases": list(aliases)}
    if unit is not None:
        extra["unit"] = unit
    if short is not None:
        extra["short"] = short
    if positional is not None:
        extra["positional"] = positional
    if shown_default is not None:
        extra["shown_default"] = shown_default
    return Field(default, description=help, json_schema_extra=extra, **constraints)


# The U-Nets halve a cube four times: its edge must be a multiple of 16 (config, checkpoints,
# the network registry all check against this one number).
CUBE_MULTIPLE = 16


def check_multiple_of_16(value: int) -> int:
    """`value` if the U-Net can take cubes of that edge (it halves them 4 times), else a
    ValueError (training's --cube_size, predict's --tile_size)."""
    if value % CUBE_MULTIPLE:
        raise ValueError(
            f"{value} is not a multiple of {CUBE_MULTIPLE} (the U-Net halves it 4 times)"
        )
    return value


MAX_BATCH_SIZE = 4096
MAX_SUBTOMOS = 1_000_000  # per tomogram and epoch (prepare_star, the star reader)
MAX_LOADER_WORKERS = 256  # --ncpus: a typo of 10**20 once forked workers until killed
# random seeds are mixed with epoch and rank into torch's 64-bit generator seeds
MAX_SEED = 2**32 - 1
# the Wiener SNR falls as exp(-f * snrfalloff * 100 / pixel): past this bound it is ~0 above
# the lowest frequencies, and much larger values overflow to NaN (deconv, refine, denoise)
MAX_SNRFALLOFF = 100.0
# --deconvstrength is log10 of the Wiener SNR scale: 10^±5 already makes the filter all or nothing
MAX_DECONVSTRENGTH = 5.0


def check_batch_size(value: int | str) -> int | str:
    """`value` if it is "auto" or 1 to MAX_BATCH_SIZE, else a ValueError (refine's and
    predict's --batch_size)."""
    if isinstance(value, int) and value < 1:
        raise ValueError("batch size must be at least 1, or auto")
    if isinstance(value, int) and value > MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be at most {MAX_BATCH_SIZE}, or auto")
    return value


def check_cpu_workers(value: int) -> int:
    """`value` if this machine has at least that many CPUs, else a ValueError (training's and
    predict's --cpu_workers: one process each, so more than the CPUs only waits)."""
    available = os.cpu_count() or 1
    if value > available:
        raise ValueError(f"this machine has {available} CPUs; give at most {available}")
    return value


def parse_index_selection(text: str | None) -> list[int] | None:
    """Parse "1,3-5" into [1, 3, 4, 5]; None or "all" selects everything (returns None)."""
    if text is None or text.strip().lower() in ("", "all", "none"):
        return None
    picked: list[int] = []
    for part in text.strip("[]() ").split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if first > last:
                raise ValueError(f"range '{part}' runs backwards; write it as {last}-{first}")
            _check_index(last)
            picked.extend(range(first, last + 1))
        elif part.isdigit():
            picked.append(_check_index(int(part)))
        else:
            raise ValueError(f"'{part}' is not an index or a range like 3-5")
    return sorted(set(picked))


MAX_INDEX = 1_000_000  # far beyond any star file; a range up to it fits in memory


def _check_index(index: int) -> int:
    """`index` if some star file could hold it (a range to 10**11 ran out of memory)."""
    if index > MAX_INDEX:
        raise ValueError(f"index {index} is beyond any star file's rows; give at most {MAX_INDEX}")
    return index


class CommandConfig(BaseModel):
    """Base of every command's config: unknown keys are errors, values are re-validated,
    numbers are finite (inf or nan in a flag is a mistake, never a setting)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    command: ClassVar[str] = ""
    # the option spellings the user typed, by field: messages name what they wrote
    _typed_flags: dict[str, str] = PrivateAttr(default_factory=dict)

    def flag(self, name: str) -> str:
        """How the user wrote field `name`'s option (e.g. --deconvfolder); else --name."""
        return self._typed_flags.get(name, f"--{name}")

    def __eq__(self, other: object) -> bool:
        """Configs of one command with equal values are equal, however options were spelled."""
        if not isinstance(other, CommandConfig):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    @classmethod
    def summary(cls) -> str:
        """The first line of the model's docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0]

    @classmethod
    def description(cls) -> str:
        """The model's docstring without its first line (the details and the Example block)."""
        lines = (cls.__doc__ or "").strip().splitlines()[1:]
        return "\n".join(line[4:] if line.startswith("    ") else line for line in lines).strip()


class TomoSelection(CommandConfig):
    """Mixin for commands that can work on a subset of the star's rows."""

    tomo_idx: str | None = param(
        None,
        'rows of the star to process, by rlnIndex, e.g. "1,3-5"; all rows when not given',
        aliases=("tomoidx",),
    )

    @field_validator("tomo_idx", mode="before")
    @classmethod
    def _check_tomo_idx(cls, value: Any) -> Any:
        if isinstance(value, list | tuple | range) or hasattr(value, "tolist"):  # numpy too
            listed = value.tolist() if hasattr(value, "tolist") else list(value)
            value = ",".join(str(v) for v in (listed if isinstance(listed, list) else [listed]))
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not (value is None or isinstance(value, str)):
            raise ValueError(f'give rows as 1, [1, 3] or "1,3-5", not {value!r}')
        parse_index_selection(value)
        return value

    def selected_indices(self) -> list[int] | None:
        """The chosen rlnIndex values, or None for every row."""
        return parse_index_selection(self.tomo_idx)
