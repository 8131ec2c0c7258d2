"""Typed, validated settings of the training targets, and the per-tomogram physics record.

Example:
    settings = TargetSettings(method="isonet2-n2n", ctf_mode="network", mw_weight=20.0)
    physics = TomogramPhysics(pixel_size_angstrom=10.0, defocus_angstrom=30000.0,
                              voltage_kv=300.0, cs_mm=2.7, amplitude_contrast=0.1,
                              tilt_min_deg=-60.0, tilt_max_deg=60.0)
    settings = dataclasses.replace(settings, noise_level=0.1)   # a new epoch's noise level

Torch-free: the trainer builds these from the command's config model and the tomogram table
(ALGORITHM §5); `isonet2.targets.strategy.make_strategy` turns them into a target strategy.
"""

import logging
import math
from dataclasses import dataclass
from typing import Literal, get_args

from isonet2.errors import InputError

logger = logging.getLogger(__name__)

Method = Literal["n2n", "isonet2-n2n", "isonet2"]
CtfMode = Literal["None", "phase_only", "wiener", "network"]
NoiseMode = Literal["None", "ramp", "hamming"]

METHODS: tuple[str, ...] = get_args(Method)
CTF_MODES: tuple[str, ...] = get_args(CtfMode)
NOISE_MODES: tuple[str, ...] = get_args(NoiseMode)
CLIP_FIRST_PEAK_MODES = (0, 1, 2, 3)


def _check_choice(name: str, value: object, valid: tuple[object, ...]) -> None:
    if value not in valid:
        listed = ", ".join(repr(v) for v in valid)
        raise InputError(f"unknown {name} {value!r}; choose one of: {listed}")


@dataclass(frozen=True)
class TomogramPhysics:
    """Acquisition physics of one tomogram, in the units its field names carry (ALGORITHM §0).

    Defocus is the underfocus at 0° tilt (positive; 0 = no CTF); the tilt range is about Y.
    """

    pixel_size_angstrom: float
    defocus_angstrom: float
    voltage_kv: float
    cs_mm: float
    amplitude_contrast: float
    tilt_min_deg: float
    tilt_max_deg: float


@dataclass(frozen=True)
class TargetSettings:
    """How training inputs and targets are made (ALGORITHM §2, §5).

    Attributes:
        method: "n2n" (denoise), "isonet2-n2n" (even/odd refine) or "isonet2" (single map).
        ctf_mode: "None", "phase_only" (flip inputs only), "wiener" (Wiener-filtered targets)
            or "network" (the network output is multiplied by the CTF before the loss).
        clip_first_peak_mode: 0-3, reshapes the CTF below its first peak (network mode only).
        bfactor_angstrom2: B-factor of the envelope exp(-B s²/2) on the forward CTF, Å².
        is_ctf_flipped: the input maps are already phase-flipped.
        do_phaseflip_input: multiply input cubes by sign(CTF) on the fly (if not flipped yet).
        mw_weight: weight of the missing-wedge band loss; <= 0 means the plain loss over the
            whole cube (the band losses are still reported).
        random_rot_weight: probability of an arbitrary SO(3) rotation instead of one of the
            23 non-identity cube rotations, per batch.
        train_mirrors: mirror half the batches (x -> -x) after their rotation.
        noise_level: current noise level of the single-map recipe, as a fraction of the
            input's std (0 = no noise); the trainer replaces it each epoch from its schedule.
        noise_mode: spectral shape of that noise inside the wedge: "None" (white), "ramp"
            (weighted back-projection) or "hamming" (ramp with a Hamming window).
        snrfalloff, deconvstrength, highpassnyquist: the Wiener filter's parameters (§2).
        apply_mw_x1: wedge-filter the raw cubes before the first (no-grad) network pass, as
            prediction does; False shows the first pass the unfiltered cube.
    """

    method: Method = "isonet2-n2n"
    ctf_mode: CtfMode = "None"
    clip_first_peak_mode: int = 0
    bfactor_angstrom2: float = 0.0
    is_ctf_flipped: bool = False
    do_phaseflip_input: bool = True
    mw_weight: float = 0.0
    random_rot_weight: float = 0.2
    train_mirrors: bool = False
    noise_level: float = 0.0
    noise_mode: NoiseMode = "None"
    snrfalloff: float = 0.0
    deconvstrength: float = 1.0
    highpassnyquist: float = 0.02
    apply_mw_x1: bool = True

    def __post_init__(self) -> None:
        _check_choice("method", self.method, METHODS)
        _check_choice("CTF mode", self.ctf_mode, CTF_MODES)
        _check_choice("noise mode", self.noise_mode, NOISE_MODES)
        _check_choice("clip_first_peak_mode", self.clip_first_peak_mode, CLIP_FIRST_PEAK_MODES)
        if not 0.0 <= self.random_rot_weight <= 1.0:
            raise InputError(f"random_rot_weight must lie in [0, 1], got {self.random_rot_weight}")
        if not (math.isfinite(self.noise_level) and self.noise_level >= 0.0):
            raise InputError(f"noise_level must be >= 0, got {self.noise_level}")
        if not math.isfinite(self.mw_weight):
            raise InputError(f"mw_weight must be a finite number, got {self.mw_weight}")
        if not (math.isfinite(self.bfactor_angstrom2) and self.bfactor_angstrom2 >= 0.0):
            raise InputError(f"bfactor must be >= 0 Å², got {self.bfactor_angstrom2}")

    @property
    def uses_ctf(self) -> bool:
        """Whether any CTF handling is on (every mode but "None")."""
        return self.ctf_mode != "None"

    @property
    def flips_inputs(self) -> bool:
        """Whether input cubes are multiplied by sign(CTF) on the fly."""
        return self.uses_ctf and self.do_phaseflip_input and not self.is_ctf_flipped

    @property
    def inputs_phase_flipped(self) -> bool:
        """Whether the network sees phase-flipped data, so the CTF filters use |CTF|."""
        return self.uses_ctf and (self.is_ctf_flipped or self.do_phaseflip_input)
