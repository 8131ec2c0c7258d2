"""Config model of `prepare_star`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator, model_validator

from isonet2.config.base import MAX_SUBTOMOS, CommandConfig, param


def _as_float_list(value: Any) -> Any:
    """One number or a list of numbers -> list of numbers (strings are split by the CLI)."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return [value]
    return value


class PrepareStarConfig(CommandConfig):
    """Write the tomogram table (tomograms.star) that every later command reads.

    Give either a folder of full tomograms (positional or --full) for single-map training, or
    --even/--odd folders of half tomograms for noise2noise training (or all three). Files are
    paired by sorted name; only .mrc, .rec and .map files count. Edit the written star (rlnDefocus,
    rlnTiltMin/Max, rlnNumberSubtomo) with any text editor before training if needed.

    Example:
        isonet.py prepare_star -e tomograms/EVN -o tomograms/ODD --pixel_size 5.4
        isonet.py prepare_star tomograms --star_name tomograms.star --pixel_size 10
        isonet.py prepare_star --even tomoset/EVN --odd tomoset/ODD --create_average True
    """

    command = "prepare_star"

    full: str | None = param(
        None,
        "folder of full tomograms (single-map training, method isonet2)",
        positional=0,
        aliases=("full_folder", "folder"),
    )
    even: str | None = param(
        None, "folder of even-half tomograms (noise2noise, with --odd)", short="e"
    )
    odd: str | None = param(
        None, "folder of odd-half tomograms (noise2noise, with --even)", short="o"
    )
    mask_folder: str | None = param(
        None, "folder of mask MRCs, paired with the tomograms by sorted name (rlnMaskName)"
    )
    coordinate_folder: str | None = param(
        None,
        "folder of subtomogram coordinate files (x y z per line, one file per tomogram, paired by "
        "sorted name); their line counts replace --number_subtomos (rlnBoxFile)",
    )
    star_name: str = param(
        "tomograms.star", "star file to write", aliases=("output_star", "star_file")
    )
    pixel_size: float | Literal["auto"] = param(
        "auto", "pixel size; auto reads the MRC header", unit="Å", aliases=("pixelsize", "apix")
    )
    defocus: list[float] = param(
        [0.0],
        "defocus of the 0° tilt image, underfocus positive: one value for all tomograms or one "
        'per tomogram ("[39057,14817]" or 39057,14817); 0 = no CTF (phase plate)',
        unit="Å",
    )
    voltage: float = param(300.0, "acceleration voltage", unit="kV", gt=0)
    cs: float = param(2.7, "spherical aberration", unit="mm", ge=0)
    ac: float = param(
        0.1, "amplitude contrast (fraction)", aliases=("amplitude_contrast",), ge=0, lt=1
    )
    tilt_min: float = param(-60.0, "most negative tilt angle", unit="°", ge=-90, le=90)
    tilt_max: float = param(60.0, "most positive tilt angle", unit="°", ge=-90, le=90)
    tilt_step: float = param(
        3.0,
        "tilt increment; accepted for compatibility with the published tool, which does not "
        "record it in the star either",
        unit="°",
        gt=0,
    )
    create_average: bool = param(
        False,
        "when no full folder is given, write averaged_tomos/<even stem>_full.mrc = even + odd "
        "beside the star and use it as rlnTomoName",
    )
    number_subtomos: int | Literal["auto"] = param(
        "auto",
        "subtomograms per tomogram per epoch (rlnNumberSubtomo); auto = 3000 / number of tomograms",
        aliases=("numbersubtomos", "number_subtomo"),
    )

    @field_validator("defocus", mode="before")
    @classmethod
    def _defocus_list(cls, value: Any) -> Any:
        return _as_float_list(value)

    @field_validator("defocus")
    @classmethod
    def _underfocus(cls, value: list[float]) -> list[float]:
        if any(defocus < 0 for defocus in value):
            shown = ",".join(f"{defocus:g}" for defocus in value)
            raise ValueError(f"must be >= 0 Å (underfocus positive; 0 = no CTF), got {shown}")
        return value

    @field_validator("pixel_size")
    @classmethod
    def _positive_pixel(cls, value: float | str) -> float | str:
        if isinstance(value, float) and value <= 0:
            raise ValueError("pixel size must be positive (Å), or auto to read the MRC header")
        return value

    @field_validator("number_subtomos")
    @classmethod
    def _positive_count(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= MAX_SUBTOMOS:
            raise ValueError(
                f"number of subtomograms must be between 1 and {MAX_SUBTOMOS:,}, or auto"
            )
        return value

    @model_validator(mode="after")
    def _check_inputs(self) -> PrepareStarConfig:
        if self.tilt_min >= self.tilt_max:
            raise ValueError(
                f"--tilt_min ({self.tilt_min:g}) must be below --tilt_max ({self.tilt_max:g})"
            )
        if (self.even is None) != (self.odd is None):
            raise ValueError("--even and --odd must be given together")
        if self.full is None and self.even is None:
            raise ValueError(
                "give a folder of full tomograms (prepare_star <folder>) or --even and --odd"
            )
        return self
