"""Config model of `predict`."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from isonet2.config.base import (
    TomoSelection,
    check_batch_size,
    check_cpu_workers,
    check_multiple_of_16,
    param,
)


class PredictConfig(TomoSelection):
    """Apply a trained network to whole tomograms (rlnCorrectedTomoName / rlnDenoisedTomoName).

    Everything about the network (architecture, cube size, method, CTF handling) comes from
    the checkpoint (CTF flips and wedge filtering by default as in training). Tomograms are
    streamed tile by tile into a memory-mapped output whose finished pages are handed back, so
    host memory is a working set (about one row of tiles across Y and X), not the tomogram.
    Even and odd halves are predicted separately and averaged; single maps are predicted once.

    Example:
        isonet.py predict tomograms.star 01_test/network_isonet2-n2n_unet-medium_96_full.pt --gpuID 0 --outputdir corrected
        isonet.py predict tomograms.star model.pt --output_dir out --tomo_idx 1
    """

    command = "predict"

    star_file: str = param("tomograms.star", "tomogram star file to read and update", positional=0)
    model: str = param(..., "trained checkpoint (.pt) written by refine or denoise", positional=1)
    model2: str | None = param(
        None,
        "second half-network of split_halves (_bottom.pt): writes its own map and the FSC "
        "between the two",
    )
    output_dir: str = param(
        "corrected", "folder for the predicted tomograms", short="o", aliases=("outputdir",)
    )
    gpuID: str | None = param(
        None,
        'GPUs to use, e.g. "0" or "0,1" (one worker each, sharing the tomograms and their '
        "slices); CPU when none exists",
        aliases=("gpu_id", "gpus"),
    )
    cpu_workers: int = param(
        1,
        "processes sharing the prediction on the CPU (gloo); for testing and CPU clusters",
        ge=1,
    )
    input_column: str | None = param(
        None,
        "star column of single maps to predict (e.g. rlnDeconvTomoName); by default even/odd "
        "halves for models trained on halves, else rlnDeconvTomoName falling back to rlnTomoName",
        aliases=("inputcolumn",),
    )
    apply_mw_x1: bool | None = param(
        None, "wedge-filter every tile first; default: as the model was trained"
    )
    isCTFflipped: bool | None = param(
        None,
        "tomograms are already phase-flipped (CTF-aware models); default: as the model's "
        "training maps were",
        aliases=("phaseflipped", "is_ctf_flipped"),
    )
    do_phaseflip_input: bool | None = param(
        None,
        "phase-flip tiles on the fly for CTF-aware models (unless isCTFflipped); default: as "
        "the model was trained",
    )
    padding_factor: float = param(
        1.5, "tile stride = cube / padding_factor; larger = more overlap, fewer seams", ge=1, le=4
    )
    rotation_average: bool = param(
        False,
        "average each tile's prediction over the 180° rotations that keep the missing wedge in "
        "place (2 passes; 4 for a symmetric tilt range): slower, less orientation-dependent guesses",
        aliases=("tta",),
    )
    tta_mirrors: bool = param(
        False,
        "with --tta, also average over the mirror images that keep the wedge (8 orientations "
        "for a symmetric tilt range, 4 otherwise); training shows the network no mirror images",
    )
    tile_size: int | None = param(
        None,
        "edge of the predicted tiles in voxels, a multiple of 16; default: the training cube. "
        "Larger tiles give the network more context and need more GPU memory",
        ge=32,
    )
    output_prefix: str = param(
        "", "text put before every output file name (no folders: outputs stay in output_dir)"
    )
    batch_size: int | Literal["auto"] = param(
        "auto", "tiles per GPU batch; auto = 8 on a GPU, 2 on CPU"
    )

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        return check_batch_size(value)

    @field_validator("cpu_workers")
    @classmethod
    def _workers_fit(cls, value: int) -> int:
        return check_cpu_workers(value)

    @field_validator("output_prefix")
    @classmethod
    def _plain_prefix(cls, value: str) -> str:
        if any(mark in value for mark in ("/", "\\")) or not value.isprintable():
            raise ValueError(
                "a file name prefix cannot hold '/', '\\', a line break or another control "
                "character; choose the folder with --output_dir"
            )
        return value

    @field_validator("tile_size")
    @classmethod
    def _multiple_of_16(cls, value: int | None) -> int | None:
        return None if value is None else check_multiple_of_16(value)

    @model_validator(mode="after")
    def _mirrors_need_tta(self) -> PredictConfig:
        if self.tta_mirrors and not self.rotation_average:
            raise ValueError("--tta_mirrors only adds to --tta; add --tta")
        return self
