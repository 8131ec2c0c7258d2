"""Config model of `simulate`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator, model_validator

from isonet2.config.base import MAX_SEED, CommandConfig, param

# the names of isonet2.simulate.PRESETS, spelled here so --help never imports torch
# (tests/pipeline/test_simulate.py checks that the two lists agree)
PresetName = Literal["cell", "lamella-asym", "sparse", "ribosome"]
MIN_SIM_AXIS = 64
MAX_SIM_AXIS = 1_000_000  # beyond it numpy says "array is too big" (a ValueError), not MemoryError


class SimulateConfig(CommandConfig):
    """Simulate a ready-to-train project: ground truth, even/odd and full tomograms, a star.

    Writes {output_dir}/ground_truth, even, odd and full (= even + odd) MRC files named
    sim_01.mrc, sim_01_EVN.mrc, sim_01_ODD.mrc, ... and {output_dir}/tomograms.star. Paths in
    the star are relative to the folder simulate runs in, so run the later commands (refine,
    predict, evaluate) from that same folder. Tomogram i (from 0) uses seed + i; the same
    command line gives the same bytes. Acquisition parameters left out take the preset's value.

    Example:
        isonet.py simulate --preset cell -o sim
        isonet.py simulate --preset lamella-asym -o sim_asym --shape 96,128,128 --ntomos 3 --snr 0.2
        isonet.py refine sim/tomograms.star --method isonet2-n2n
    """

    command = "simulate"

    output_dir: str = param(
        "isonet_sim",
        "folder for the simulated project (created; files in it are overwritten)",
        short="o",
        aliases=("outputdir",),
    )
    preset: PresetName = param(
        "cell", "scene and acquisition defaults (see isonet2.simulate.presets)"
    )
    shape: list[int] = param(
        [128, 256, 256],
        f"volume shape Z,Y,X (Z = beam, Y = tilt axis); every axis at least {MIN_SIM_AXIS}",
        unit="voxels",
    )
    number_tomograms: int = param(
        2, "how many tomograms to simulate", aliases=("ntomos", "n_tomos"), ge=1
    )
    pixel_size: float | None = param(
        None, "voxel size; None = the preset's value", unit="Å", aliases=("pixelsize",), gt=0
    )
    tilt_min: float | None = param(
        None, "most negative tilt; None = the preset's value", unit="°", ge=-90, le=90
    )
    tilt_max: float | None = param(
        None, "most positive tilt; None = the preset's value", unit="°", ge=-90, le=90
    )
    tilt_step: float | None = param(
        None, "tilt increment; None = the preset's value", unit="°", gt=0
    )
    defocus: float | None = param(
        None,
        "underfocus of the 0° image (positive; 0 = in focus); None = the preset's value",
        unit="Å",
        ge=0,
    )
    snr: float | None = param(
        None,
        "signal-to-noise ratio of each full-dose projection; None = the preset's value",
        gt=0,
    )
    seed: int = param(0, "random seed; tomogram i uses seed + i", ge=0, le=MAX_SEED)

    @field_validator("shape", mode="before")
    @classmethod
    def _shape_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.strip("[]() ").split(",") if part.strip()]
        return value

    @field_validator("shape")
    @classmethod
    def _check_shape(cls, value: list[int]) -> list[int]:
        if len(value) != 3:
            raise ValueError(f"give three sizes Z,Y,X (e.g. 128,256,256), got {len(value)}")
        if min(value) < MIN_SIM_AXIS:
            shown = ",".join(map(str, value))
            raise ValueError(f"every axis must be at least {MIN_SIM_AXIS} voxels, got {shown}")
        if max(value) > MAX_SIM_AXIS:
            shown = ",".join(map(str, value))
            raise ValueError(f"every axis must be at most {MAX_SIM_AXIS} voxels, got {shown}")
        return value

    @model_validator(mode="after")
    def _check_tilts(self) -> SimulateConfig:
        low, high = self.tilt_min, self.tilt_max
        if low is not None and high is not None and low >= high:
            raise ValueError(f"--tilt_min ({low:g}) must be below --tilt_max ({high:g})")
        return self
