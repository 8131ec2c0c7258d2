"""One pydantic model per command: defaults, units, help, choices and flag spellings.

Example:
    from isonet2.config import COMMANDS
    cfg = COMMANDS["prepare_star"](full="tomograms", pixel_size=10)

Torch-free on purpose: importing this package (or printing `--help`) must stay fast.
"""

from isonet2.config.base import CommandConfig, param, parse_index_selection
from isonet2.config.prepare import PrepareStarConfig

COMMANDS: dict[str, type[CommandConfig]] = {model.command: model for model in (PrepareStarConfig,)}

__all__ = ["COMMANDS", "CommandConfig", "PrepareStarConfig", "param", "parse_index_selection"]
