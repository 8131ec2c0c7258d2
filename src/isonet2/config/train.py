"""Config models of the training commands `refine` and `denoise`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator, model_validator

from isonet2.config.base import (
    MAX_DECONVSTRENGTH,
    MAX_LOADER_WORKERS,
    MAX_SEED,
    MAX_SNRFALLOFF,
    CommandConfig,
    check_batch_size,
    check_cpu_workers,
    check_multiple_of_16,
    param,
    parse_index_selection,
)

CtfMode = Literal["None", "phase_only", "wiener", "network"]
LossName = Literal["L2", "L1", "Huber", "FSC", "L2+FSC"]
NoiseMode = Literal["None", "ramp", "hamming"]
ARCHITECTURES = ("unet-small", "unet-medium", "unet-large")


def _as_list(value: Any) -> Any:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return [value]
    return value


class TrainingConfig(CommandConfig):
    """Parameters shared by refine and denoise."""

    star_file: str = param("tomograms.star", "tomogram star file", positional=0)
    output_dir: str = param(
        "isonet_training",
        "folder for checkpoints, log.txt, loss plot and previews; rerunning into a folder that "
        "holds an unfinished run of the same settings resumes it (see --resume)",
        short="o",
        aliases=("outputdir",),
    )
    gpuID: str | None = param(
        None,
        'GPUs to use, e.g. "0" or "0,1" (one data-parallel training process each); all visible '
        "GPUs when not given; CPU when none exists",
        aliases=("gpu_id", "gpus"),
    )
    ncpus: int = param(
        4,
        "data-loading worker processes per training process (per GPU); left out, 4 (on the CPU "
        "at most as many as fit the CPUs this run may use)",
        aliases=("ncpu",),
        ge=0,
        le=MAX_LOADER_WORKERS,
    )
    cpu_workers: int = param(
        1,
        "processes for data-parallel training on the CPU (gloo); for testing and CPU clusters",
        ge=1,
    )
    arch: Literal["unet-small", "unet-medium", "unet-large"] = param(
        "unet-medium", "network architecture (capacity and GPU memory grow small -> large)"
    )
    pretrained_model: str | None = param(
        None,
        "checkpoint (.pt) whose weights a new run starts from (a fresh optimizer and epoch "
        "count; rerunning into a run's own folder continues it instead)",
    )
    cube_size: int = param(
        96, "edge of the training subtomograms; a multiple of 16, at least 32", unit="px", ge=32
    )
    epochs: int = param(50, "epochs to train", aliases=("iterations",), ge=1)
    batch_size: int | Literal["auto"] = param(
        "auto", "subtomograms per optimizer step over all GPUs; auto = 4 on one GPU, 2 per GPU"
    )
    acc_batches: int = param(1, "batches whose gradients are accumulated per step", ge=1)
    loss_func: LossName = param(
        "L2",
        "base loss: L2, L1, Huber, FSC (1 - mean Fourier shell correlation: blind to each "
        "shell's scale) or L2+FSC (their sum, so weak high-frequency shells count as much as "
        "strong low ones; it restored the wedge best in our tests)",
    )
    fsc_weight: float = param(
        1.0,
        "weight of the FSC term of --loss_func L2+FSC (L2 + fsc_weight x (1 - mean FSC)); "
        "larger favours the weak high-frequency shells (benchmarks/QUALITY.md, sixth set)",
        gt=0,
    )
    learning_rate: float = param(3e-4, "AdamW learning rate at the start", gt=0)
    learning_rate_min: float = param(
        3e-5,
        "learning rate at the end of the cosine schedule (= learning_rate: constant; "
        "learning_rate / 10 where only a learning_rate below 3e-5 is given)",
        ge=0,
    )
    adamw_beta2: float = param(
        0.999,
        "AdamW's decay of its squared-gradient average (0.999, torch's default, averages over "
        "about the last 1,000 steps, 0.99 over 100); 0.99 lifted the restored wedge at "
        "--batch_size 1 (benchmarks/QUALITY.md, sixteenth set)",
        ge=0,
        lt=1,
    )
    warmup_epochs: int = param(
        0,
        "epochs over which the learning rate rises linearly to the cosine schedule "
        "(0 = none; benchmarks/QUALITY.md, tenth and eleventh sets)",
        ge=0,
    )
    save_interval: int = param(
        10, "keep a numbered checkpoint (and a preview) every this many epochs", ge=1
    )
    mixed_precision: bool = param(
        True, "bf16 autocast where the GPU supports it, else fp16 with loss scaling; off on CPU"
    )
    compile: bool = param(
        False,
        "GPU only: torch.compile the network (about 20% more subtomograms/s after a compile "
        "of a minute or two at the start; falls back to eager if compiling fails)",
    )
    ema_decay: float = param(
        0.0,
        "keep an exponential moving average of the weights with this decay per step (e.g. "
        "0.998) and save it as the model; 0 saves the trained weights themselves",
        ge=0,
        lt=1,
    )
    CTF_mode: CtfMode = param(
        "None",
        "CTF handling: None; phase_only (phase-flip inputs); wiener (Wiener-filtered targets); "
        "network (the network learns to undo the CTF)",
        aliases=("ctfmode",),
    )
    clip_first_peak_mode: int = param(
        1,
        "CTF below its first peak: 0 unchanged, 1 constant, 2 negative sine, 3 cosine",
        ge=0,
        le=3,
    )
    bfactor: float = param(
        0.0,
        "B-factor of the envelope exp(-B s^2/2) applied to the CTF in network mode (and to "
        "the first pass's CTF in wiener mode); the same effective envelope as the published "
        "IsoNet2, so its 200-300 mean the same here",
        unit="Å²",
        ge=0,
    )
    isCTFflipped: bool = param(
        False, "tomograms are already phase-flipped", aliases=("phaseflipped", "is_ctf_flipped")
    )
    do_phaseflip_input: bool = param(
        True, "phase-flip inputs on the fly in CTF-aware modes (unless isCTFflipped)"
    )
    snrfalloff: float = param(
        0.0,
        "Wiener filter SNR fall-off (CTF_mode wiener; refine --with_deconv passes it on to "
        "deconv when given, else deconv uses its own default 1.0)",
        ge=0,
        le=MAX_SNRFALLOFF,
    )
    deconvstrength: float = param(
        1.0,
        "Wiener filter strength, log10 SNR (CTF_mode wiener; passed on by --with_deconv when "
        "given)",
        ge=-MAX_DECONVSTRENGTH,
        le=MAX_DECONVSTRENGTH,
    )
    highpassnyquist: float = param(
        0.02,
        "Wiener filter high-pass, fraction of Nyquist (CTF_mode wiener; passed on by "
        "--with_deconv when given)",
        gt=0,
        le=1,
    )
    with_preview: bool = param(
        True, "predict prev_tomo_idx every save_interval epochs and save slice images"
    )
    prev_tomo_idx: str = param("1", 'star rows (rlnIndex) to preview, e.g. "1" or "1,3"')
    with_predict: bool = param(False, "predict every tomogram with the final model")
    seed: int = param(
        0,
        "random seed of subtomogram centres, augmentation and initial weights",
        ge=0,
        le=MAX_SEED,
    )
    resume: bool = param(
        True,
        "continue an unfinished run of the same settings found in output_dir; False (or "
        "other settings) moves that run into output_dir/earlier_run_N and starts over",
    )

    @field_validator("prev_tomo_idx", mode="before")
    @classmethod
    def _check_indices(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        value = str(value)
        parse_index_selection(value)
        return value

    @field_validator("cube_size")
    @classmethod
    def _multiple_of_16(cls, value: int) -> int:
        return check_multiple_of_16(value)

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        return check_batch_size(value)

    @field_validator("cpu_workers")
    @classmethod
    def _workers_fit(cls, value: int) -> int:
        return check_cpu_workers(value)

    @model_validator(mode="after")
    def _lr_falls(self) -> TrainingConfig:
        if self.learning_rate_min > self.learning_rate and (
            "learning_rate_min" not in self.model_fields_set
        ):  # only --learning_rate given, below the default end: keep the default's ratio
            self.__dict__["learning_rate_min"] = self.learning_rate / 10
        if self.learning_rate_min > self.learning_rate:
            raise ValueError(
                f"--learning_rate_min ({self.learning_rate_min:g}) is above --learning_rate "
                f"({self.learning_rate:g}), so the schedule would raise the rate; give a "
                "smaller --learning_rate_min (equal keeps the rate constant)"
            )
        return self

    @model_validator(mode="after")
    def _warmup_ends_before_the_run(self) -> TrainingConfig:
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError(
                f"--warmup_epochs ({self.warmup_epochs}) is not below --epochs ({self.epochs}), "
                "so the learning rate would never reach its schedule; give fewer warm-up "
                "epochs (e.g. a tenth of --epochs) or 0 for none"
            )
        return self

    @model_validator(mode="after")
    def _fsc_weight_needs_fsc_term(self) -> TrainingConfig:
        if self.fsc_weight != 1.0 and self.loss_func.lower() != "l2+fsc":
            raise ValueError(
                f"--fsc_weight weighs the FSC term of --loss_func L2+FSC, not of "
                f"{self.loss_func}; add --loss_func L2+FSC or leave --fsc_weight out"
            )
        return self


def default_mw_weight(loss_func: str) -> float:
    """The band weight refine uses when --mw_weight is not given: 1 for L2+FSC, else 5.

    The band weight multiplies the wedge band's FSC term too, which past 1-2 crowds out the
    measured band (benchmarks/QUALITY.md, fourth and fifth sets); L2 scored best at 5-10.
    """
    return 1.0 if loss_func.lower() == "l2+fsc" else 5.0


class DenoiseConfig(TrainingConfig):
    """Train a Noise2Noise denoiser on even/odd half tomograms (method n2n).

    No missing-wedge correction: use refine for that. With --CTF_mode network or wiener the
    network also corrects the CTF.

    Example:
        isonet.py denoise tomograms.star -o 03_test
        isonet.py denoise tomograms.star -o 03_test --CTF_mode wiener
    """

    command = "denoise"


class RefineConfig(TrainingConfig):
    """Train IsoNet2: missing-wedge correction, denoising and CTF correction in one network.

    Method auto picks isonet2-n2n when the star has even/odd halves (unless --noise_level > 0
    asks for the single-map recipe and full maps exist), and isonet2 for full maps only.

    Example:
        isonet.py refine tomograms.star -o 01_test --CTF_mode network
        isonet.py refine tomograms.star -o 01_test --noise_level 0.2
        isonet.py refine tomograms.star --outputdir results --gpuID 0 --epochs 2
    """

    command = "refine"

    method: Literal["auto", "isonet2", "isonet2-n2n"] = param(
        "auto", "training recipe: isonet2 (single maps) or isonet2-n2n (even/odd halves)"
    )
    input_column: str | None = param(
        None,
        "star column of the single maps to train on (method isonet2); by default each row's "
        "rlnDeconvTomoName falling back to rlnTomoName, as predict reads them",
        aliases=("inputcolumn",),
    )
    mw_weight: float | None = param(
        None,
        "weight of the missing-wedge band in the masked loss (total = n2n band + mw_weight x "
        "mw band); <= 0 uses the plain loss over the whole cube. The defaults are the best of "
        "each loss in our tests; 200 starves the measured band (README, Measured)",
        shown_default="1 with --loss_func L2+FSC, else 5",
    )
    apply_mw_x1: bool = param(True, "wedge-filter the inputs (training and prediction)")
    noise_level: list[float] = param(
        [0.0],
        "isonet2 only: std of added noise relative to the cube's; a list with noise_start_iter "
        "is a schedule",
        aliases=("noiselevel",),
    )
    noise_start_iter: list[int] = param(
        [0],
        "epochs (0-based) at which each noise_level starts: one per level, all different and "
        "below --epochs",
        aliases=("noisestartiter", "noise_start_epoch"),
    )
    noise_mode: NoiseMode = param(
        "ramp", "filter of the added noise: None (white in the wedge), ramp, hamming"
    )
    random_rot_weight: float = param(
        0.2,
        "probability of an arbitrary rotation instead of one of the 23 cube rotations",
        ge=0,
        le=1,
    )
    train_mirrors: bool = param(
        False,
        "also mirror half the training batches (x -> -x) after their rotation, so the network "
        "sees mirror images too, as predict --tta_mirrors shows it; off, since mirroring "
        "changes a molecule's handedness",
    )
    with_deconv: bool = param(
        False, "run deconv and make_mask first and train on rlnDeconvTomoName (isonet2)"
    )
    split_halves: bool = param(
        False,
        "train two networks on disjoint halves of the data (top/bottom along Y): _top.pt and "
        "_bottom.pt, for gold-standard FSC between two independent maps",
    )

    @property
    def band_weight(self) -> float:
        """--mw_weight as given, or its default for the chosen loss."""
        return default_mw_weight(self.loss_func) if self.mw_weight is None else self.mw_weight

    @field_validator("noise_level", "noise_start_iter", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _schedule(self) -> RefineConfig:
        """One start epoch per level, each a distinct epoch of the run: the schedule keeps
        the last level started (train.schedule.noise_level_at), so two levels starting
        together, or one starting after the last epoch, would never be used."""
        levels, starts = self.noise_level, self.noise_start_iter
        if any(level < 0 for level in levels):
            raise ValueError("--noise_level must be >= 0")
        if len(levels) != len(starts):
            raise ValueError(
                f"--noise_level has {len(levels)} values but --noise_start_iter {len(starts)}; "
                "give one start epoch per level, e.g. --noise_level 0.1,0.2 "
                "--noise_start_iter 0,10"
            )
        if any(start < 0 for start in starts):
            raise ValueError("--noise_start_iter: start epochs count from 0; give none below 0")
        if len(set(starts)) != len(starts):
            raise ValueError(
                "--noise_start_iter gives two levels the same start epoch, so only one would be "
                "used; give each level its own epoch"
            )
        if max(starts) >= self.epochs:
            raise ValueError(
                f"--noise_start_iter {max(starts)} is not below --epochs {self.epochs} (epochs "
                "count from 0), so that level would never be used"
            )
        return self
