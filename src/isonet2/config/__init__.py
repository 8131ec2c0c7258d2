"""One pydantic model per command: defaults, units, help, choices and flag spellings.

Example:
    from isonet2.config import COMMANDS
    cfg = COMMANDS["prepare_star"](full="tomograms", pixel_size=10)

Torch-free on purpose: importing this package (or printing `--help`) must stay fast.
"""

from isonet2.config.base import CommandConfig, param, parse_index_selection
from isonet2.config.demo import DemoConfig
from isonet2.config.evaluate import EvaluateConfig
from isonet2.config.gui import GuiConfig
from isonet2.config.predict import PredictConfig
from isonet2.config.prepare import PrepareStarConfig
from isonet2.config.preprocess import DeconvConfig, MakeMaskConfig
from isonet2.config.simulate import SimulateConfig
from isonet2.config.train import DenoiseConfig, RefineConfig, TrainingConfig

COMMANDS: dict[str, type[CommandConfig]] = {
    model.command: model
    for model in (
        PrepareStarConfig,
        DeconvConfig,
        MakeMaskConfig,
        DenoiseConfig,
        RefineConfig,
        PredictConfig,
        SimulateConfig,
        EvaluateConfig,
        DemoConfig,
        GuiConfig,
    )
}

__all__ = [
    "COMMANDS",
    "CommandConfig",
    "DeconvConfig",
    "DemoConfig",
    "DenoiseConfig",
    "EvaluateConfig",
    "GuiConfig",
    "MakeMaskConfig",
    "PredictConfig",
    "PrepareStarConfig",
    "RefineConfig",
    "SimulateConfig",
    "TrainingConfig",
    "param",
    "parse_index_selection",
]
