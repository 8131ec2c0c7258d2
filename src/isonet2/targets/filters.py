"""Per-tomogram Fourier filters for training, built once on the training device and looked up.

Example:
    bank = FilterBank.build(settings, physics, cube_size=96, device="cuda")
    wedge = bank.wedge(batch["tomo"])                  # (b, 1, 96, 96, 49), rfft layout
    flipped = apply_table(bank.input_flip, cube, batch["tomo"])   # identity when no table

Every filter is float32. Tomograms with identical physics share one entry: a `FilterTable`
holds the distinct entries (U, ...) and, per tomogram, the index of its entry (T,); a lookup is
one tensor indexing, whatever the batch. Which roles are filled depends on the settings alone
(ALGORITHM §2, §5):

- `wedge` / `wedge_centred`: the acquisition wedge (1 = measured), rfft and centred layouts.
- `input_flip`: sign(CTF), when input cubes are phase-flipped on the fly.
- `prediction_ctf`: the CTF applied to first-pass predictions (modes "network" and "wiener").
- `output_ctf`: the CTF applied to the network output before the loss (mode "network").
- `target_wiener`: the Wiener filter applied to the targets (mode "wiener").

The CTFs are |CTF| when the network sees phase-flipped data, else signed; both carry the
B-factor envelope; only the network mode's CTF is first-peak clipped (ALGORITHM §2).
"""

import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch

from isonet2.fourier.ctf import ctf_3d, phase_flip_filter, wiener_filter_3d
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.grids import Device
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.targets.settings import TargetSettings, TomogramPhysics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilterTable:
    """Distinct filters and the entry each tomogram uses.

    Attributes:
        entries: (U, z, y, w) float32, w = x//2+1 (rfft layout) or x (centred layout).
        entry_of_tomogram: (T,) int64, the entry of tomogram t (its index in the physics list).
    """

    entries: torch.Tensor
    entry_of_tomogram: torch.Tensor

    @classmethod
    def build(
        cls, keys: Sequence[Hashable], make: Callable[[int], torch.Tensor], device: Device
    ) -> "FilterTable":
        """One entry per distinct key; ``make(t)`` builds the filter of the first tomogram t
        holding that key."""
        first_holder: dict[Hashable, int] = {}
        for tomogram, key in enumerate(keys):
            first_holder.setdefault(key, tomogram)
        entry_index = {key: i for i, key in enumerate(first_holder)}
        entries = torch.stack([make(tomogram) for tomogram in first_holder.values()])
        index = torch.tensor([entry_index[key] for key in keys], dtype=torch.int64, device=device)
        return cls(entries.to(device=device, dtype=torch.float32), index)

    def __call__(self, tomo: torch.Tensor) -> torch.Tensor:
        """Filters of a batch: tomo (b,) int64 -> (b, 1, z, y, w) float32."""
        index = self.entry_of_tomogram[tomo.to(self.entry_of_tomogram.device)]
        return self.entries[index].unsqueeze(1)


def apply_table(
    table: FilterTable | None, volumes: torch.Tensor, tomo: torch.Tensor
) -> torch.Tensor:
    """Filter each cube of (b, 1, z, y, x) by its tomogram's filter; no table: unchanged."""
    if table is None:
        return volumes
    return apply_fourier_filter(volumes, table(tomo))


def fill_missing_wedge(
    prediction: torch.Tensor, measured: torch.Tensor, wedge: torch.Tensor
) -> torch.Tensor:
    """Filled cubes (1 - wedge) * prediction + wedge * measured, combined in Fourier space.

    Args:
        prediction: (b, 1, c, c, c), e.g. a first-pass network output.
        measured: (b, 1, c, c, c), the data whose measured region is kept.
        wedge: rfft-layout wedge masks (b, 1, c, c, c//2+1) or one (c, c, c//2+1), 1 = measured.

    Returns:
        (b, 1, c, c, c) float32.
    """
    dims = (-3, -2, -1)
    spectrum = torch.fft.rfftn(prediction.to(torch.float32), dim=dims) * (1.0 - wedge)
    spectrum = spectrum + torch.fft.rfftn(measured.to(torch.float32), dim=dims) * wedge
    return torch.fft.irfftn(spectrum, s=prediction.shape[-3:], dim=dims)


@dataclass(frozen=True)
class FilterBank:
    """All per-tomogram filters of a training run, for cubes of one size (see module doc)."""

    cube_size: int
    wedge: FilterTable
    wedge_centred: FilterTable
    input_flip: FilterTable | None
    prediction_ctf: FilterTable | None
    output_ctf: FilterTable | None
    target_wiener: FilterTable | None

    @property
    def device(self) -> torch.device:
        """The device every filter lives on."""
        return self.wedge.entries.device

    @classmethod
    def build(
        cls,
        settings: TargetSettings,
        physics: Sequence[TomogramPhysics],
        cube_size: int,
        device: Device,
    ) -> "FilterBank":
        """Compute the filters the settings need for cubes of ``cube_size``³ on ``device``.

        Args:
            settings: the target settings (CTF mode, flipping, clipping, B-factor, Wiener).
            physics: one record per tomogram, in the order of the batches' "tomo" indices.
            cube_size: edge of the training cubes in voxels.
            device: the training device.
        """
        if not physics:
            raise ValueError("FilterBank needs the physics of at least one tomogram")
        shape = (cube_size, cube_size, cube_size)
        tilts = [(p.tilt_min_deg, p.tilt_max_deg) for p in physics]
        optics = [
            (p.pixel_size_angstrom, p.defocus_angstrom, p.voltage_kv, p.cs_mm, p.amplitude_contrast)
            for p in physics
        ]

        def wedge(rfft: bool) -> FilterTable:
            return FilterTable.build(
                tilts,
                lambda t: missing_wedge_mask(shape, *tilts[t], rfft=rfft, device=device),
                device,
            )

        def ctf(clip_mode: int) -> FilterTable:
            return FilterTable.build(
                optics,
                lambda t: ctf_3d(
                    shape,
                    *optics[t],
                    clip_first_peak_mode=clip_mode,
                    bfactor_angstrom2=settings.bfactor_angstrom2,
                    absolute=settings.inputs_phase_flipped,
                    rfft=True,
                    device=device,
                ),
                device,
            )

        flip = None
        if settings.flips_inputs:
            flip = FilterTable.build(
                optics,
                lambda t: phase_flip_filter(shape, *optics[t], rfft=True, device=device),
                device,
            )
        prediction_ctf = output_ctf = wiener = None
        if settings.ctf_mode == "network":
            prediction_ctf = output_ctf = ctf(settings.clip_first_peak_mode)
        if settings.ctf_mode == "wiener":
            prediction_ctf = ctf(0)
            wiener = FilterTable.build(
                optics,
                lambda t: wiener_filter_3d(
                    shape,
                    *optics[t],
                    settings.snrfalloff,
                    settings.deconvstrength,
                    settings.highpassnyquist,
                    phase_flipped=settings.inputs_phase_flipped,
                    rfft=True,
                    device=device,
                ),
                device,
            )
        bank = cls(cube_size, wedge(True), wedge(False), flip, prediction_ctf, output_ctf, wiener)
        logger.debug(
            "filter bank for %d tomograms: %d wedge(s), %d CTF entr(ies), mode %s",
            len(physics),
            bank.wedge.entries.shape[0],
            len(set(optics)),
            settings.ctf_mode,
        )
        return bank
