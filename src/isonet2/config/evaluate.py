"""Config model of `evaluate`."""

from __future__ import annotations

from pydantic import model_validator

from isonet2.config.base import TomoSelection, param


class EvaluateConfig(TomoSelection):
    """Score maps against ground truth, or one half map against the other.

    Two ways to name the maps. One volume and --reference (ground truth or the other half
    map). Or --star with --column (the maps to score) and either --ground_truth (a folder of
    ground-truth MRCs, e.g. simulate's ground_truth/, or one file) or --reference_column
    (e.g. the odd halves). Ground-truth files pair with the star's maps by stem: sim_01.mrc
    scores sim_01.mrc, sim_01_EVN.mrc and sim_01_EVN_isonet2-n2n_unet-medium.mrc; when some
    map has no such partner, the folder's files pair with the star's rows by sorted name.

    Reported per map (one JSON line on stdout, appended to {output_dir}/evaluate.jsonl, plus
    {output_dir}/{stem}_fsc.png): the Pearson correlation and the least-squares scale that
    maps the volume onto the reference; the FSC and its 0.5 and 0.143 resolutions (Å); the
    mean FSC up to Nyquist inside and outside the missing wedge of the tilt range; and the
    0.143 resolution in ±30° cones around Z (the beam) and X. FSC numbers use a central crop
    of at most 256 voxels per side (fsc_shape says which); resolutions that never reach the
    threshold are null.

    Example:
        isonet.py evaluate --star sim/tomograms.star --column rlnCorrectedTomoName --ground_truth sim/ground_truth
        isonet.py evaluate corrected/a.mrc --reference sim/ground_truth/sim_01.mrc --tilt_min -60 --tilt_max 60
        isonet.py evaluate --star tomograms.star --column rlnTomoReconstructedTomogramHalf1 --reference_column rlnTomoReconstructedTomogramHalf2
    """

    command = "evaluate"

    volume: str | None = param(None, "one map (MRC) to score against --reference", positional=0)
    reference: str | None = param(
        None, "the map --volume is scored against: ground truth or the other half map"
    )
    star: str | None = param(
        None, "tomogram star file whose --column maps are scored", aliases=("star_file",)
    )
    column: str = param(
        "rlnCorrectedTomoName",
        "star column holding the maps to score (with --star)",
        aliases=("input_column", "inputcolumn"),
    )
    ground_truth: str | None = param(
        None,
        "folder of ground-truth MRCs (or one file) to score the star's maps against",
        aliases=("gt",),
    )
    reference_column: str | None = param(
        None,
        "star column of the reference maps instead of --ground_truth (half-map comparison)",
    )
    tilt_min: float | None = param(
        None,
        "most negative tilt, for the missing wedge; None = the star row's rlnTiltMin (-60 for "
        "a volume given directly)",
        unit="°",
        ge=-90,
        le=90,
    )
    tilt_max: float | None = param(
        None,
        "most positive tilt; None = the star row's rlnTiltMax (60 for a volume given directly)",
        unit="°",
        ge=-90,
        le=90,
    )
    pixel_size: float | None = param(
        None,
        "pixel size; None = the star row's rlnPixelSize, or the MRC header of a volume",
        unit="Å",
        aliases=("pixelsize", "apix"),
        gt=0,
    )
    output_dir: str = param(
        "evaluation",
        "folder for evaluate.jsonl (appended) and the FSC plots",
        short="o",
        aliases=("outputdir",),
    )

    @model_validator(mode="after")
    def _check_sources(self) -> EvaluateConfig:
        low, high = self.tilt_min, self.tilt_max
        if low is not None and high is not None and low >= high:
            raise ValueError(f"--tilt_min ({low:g}) must be below --tilt_max ({high:g})")
        if (self.volume is None) == (self.star is None):
            raise ValueError("give either one volume and --reference, or --star (not both)")
        if self.volume is not None:
            if self.reference is None:
                raise ValueError(f"give --reference <map.mrc> to score {self.volume} against")
            if (
                self.ground_truth
                or self.reference_column
                or self.tomo_idx
                or ("column" in self.model_fields_set)
            ):
                raise ValueError(
                    "--column, --ground_truth, --reference_column and --tomo_idx go with --star; "
                    "for one volume use --reference"
                )
            return self
        if self.reference is not None:
            raise ValueError("--reference goes with one volume; with --star use --ground_truth")
        if (self.ground_truth is None) == (self.reference_column is None):
            raise ValueError("with --star give either --ground_truth or --reference_column")
        return self
