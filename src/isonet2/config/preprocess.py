"""Config models of `deconv` and `make_mask`."""

from __future__ import annotations

from pydantic import model_validator

from isonet2.config.base import MAX_DECONVSTRENGTH, MAX_SNRFALLOFF, TomoSelection, param

# make_mask's --patch_size is a half-size in voxels binned 2x: 128 already spans 514 voxels
# of the tomogram, far beyond any local density or texture
MAX_PATCH_SIZE = 128


class DeconvConfig(TomoSelection):
    """CTF-deconvolve tomograms with a Wiener filter (rlnDeconvTomoName).

    Recommended for non-phase-plate data before single-map training; skip it for phase-plate
    data or when training with --CTF_mode network. Each output is rescaled to its input's
    mean and standard deviation. Rows with defocus 0 are copied through with a warning.

    Example:
        isonet.py deconv tomograms.star --deconvfolder deconv --snrfalloff 0.7 --deconvstrength 1
        isonet.py deconv tomograms.star --chunk_size 200 --overlap_rate 0.25 --tomo_idx 1,3-5
    """

    command = "deconv"

    star_file: str = param("tomograms.star", "tomogram star file to read and update", positional=0)
    output_dir: str = param(
        "deconv", "folder for the deconvolved tomograms", aliases=("deconvfolder", "deconv_folder")
    )
    input_column: str = param(
        "rlnTomoName", "star column holding the tomograms to deconvolve", aliases=("inputcolumn",)
    )
    snrfalloff: float = param(
        1.0,
        "how fast the assumed SNR falls with frequency; larger = smoother output",
        ge=0,
        le=MAX_SNRFALLOFF,
    )
    deconvstrength: float = param(
        1.0,
        "log10 of the SNR scale; larger = stronger low-frequency boost",
        ge=-MAX_DECONVSTRENGTH,
        le=MAX_DECONVSTRENGTH,
    )
    highpassnyquist: float = param(
        0.02, "high-pass cut-off as a fraction of Nyquist (removes gradients)", gt=0, le=1
    )
    chunk_size: int | None = param(
        None,
        "process in overlapping cubes of this many voxels per side to bound memory; whole "
        "volume when not given",
        aliases=("chunksize",),
        ge=16,
    )
    overlap_rate: float = param(
        0.25, "fraction of a chunk that overlaps its neighbours (blended seams)", ge=0, lt=0.5
    )
    ncpus: int = param(4, "CPU threads for the FFTs", aliases=("ncpu", "n_cpus"), ge=1)
    phaseflipped: bool = param(
        False,
        "inputs are already phase-flipped: deconvolve with |CTF|",
        aliases=("isCTFflipped", "phase_flipped"),
    )


class MakeMaskConfig(TomoSelection):
    """Mask out empty regions so training samples the specimen (rlnMaskName).

    A voxel is kept when its neighbourhood is both dense (bright after contrast inversion)
    and textured (high local standard deviation), and it is not in the top or bottom z_crop/2
    of the tomogram. Masks are written as int8 0/1 MRC files.

    Example:
        isonet.py make_mask tomograms.star
        isonet.py make_mask tomograms.star --maskfolder mask --patchsize 4 --densitypercentage 50 --stdpercentage 80 --zcrop 0.2
    """

    command = "make_mask"

    star_file: str = param("tomograms.star", "tomogram star file to read and update", positional=0)
    output_dir: str = param(
        "mask", "folder for the mask MRCs", aliases=("maskfolder", "mask_folder")
    )
    input_column: str = param(
        "rlnDeconvTomoName",
        "star column to make masks from; empty cells fall back to rlnTomoName, then the even half",
        aliases=("inputcolumn",),
    )
    patch_size: int = param(
        4,
        "local box half-size for the density and std filters (4 suits most tomograms)",
        unit="px (binned)",
        aliases=("patchsize",),
        ge=1,
        le=MAX_PATCH_SIZE,
    )
    density_percentage: float = param(
        50.0,
        "percentage of voxels kept by local density; above 99.8 disables this criterion",
        unit="%",
        aliases=("densitypercentage",),
        ge=0,
        le=100,
    )
    std_percentage: float = param(
        50.0,
        "percentage of voxels kept by local standard deviation; above 99.8 disables it",
        unit="%",
        aliases=("stdpercentage",),
        ge=0,
        le=100,
    )
    z_crop: float = param(
        0.2,
        "fraction of Z masked out, half at the top and half at the bottom",
        aliases=("zcrop",),
        ge=0,
        lt=1,
    )

    @model_validator(mode="after")
    def _something_kept(self) -> MakeMaskConfig:
        for name in ("density_percentage", "std_percentage"):
            if getattr(self, name) == 0:
                raise ValueError(f"--{name} 0 keeps no voxel; use a value between 1 and 100")
        return self
