"""Training losses: base losses chosen by name, and the masked (band) loss of ALGORITHM §5.

Example:
    base = get_base_loss("L2")
    terms = masked_loss(prediction, example.targets, example.n2n_band, example.mw_band,
                        mw_weight=20.0, base=base)
    terms.total.backward()
    log(n2n=float(terms.n2n), mw=float(terms.mw))

Every loss takes (b, 1, c, c, c) prediction and target, any float dtype (computed in float32),
and returns a scalar averaged over the batch.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from isonet2.errors import InputError
from isonet2.fourier.grids import friedel_weights, radial_frequency_grid

logger = logging.getLogger(__name__)

BaseLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_DIMS = (-3, -2, -1)


def l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    return F.mse_loss(prediction.float(), target.float())


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return F.l1_loss(prediction.float(), target.float())


def huber_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Huber loss with delta 1 (in normalised units: quadratic within one std of the data)."""
    return F.huber_loss(prediction.float(), target.float(), delta=1.0)


def _shells(shape: torch.Size, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Shell index and Friedel multiplicity of every rfft-layout voxel, and the shell count.

    Shell = round(|k| * m), |k| in cycles/pixel, m the shortest side; shells 1 .. m//2 count,
    everything else (zero frequency, the corners) goes to the discard bin 0. The weights are
    `friedel_weights`, so half-spectrum sums equal full-spectrum ones.
    """
    shortest = min(shape)
    n_shells = shortest // 2
    radius = radial_frequency_grid(shape, rfft=True, dtype=torch.float64, device=device)
    shell = torch.round(radius * shortest).to(torch.int64)
    shell = torch.where(shell <= n_shells, shell, 0)
    weight = friedel_weights(shape[-1], device=device).expand(shell.shape)
    return shell.flatten(), weight, n_shells


def fsc_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - the mean Fourier shell correlation of the batch, over one-voxel shells 1 .. c//2.

    The FSC of a shell pools the whole batch: Re(sum A conj(B)) / sqrt(sum |A|² sum |B|²), each
    sum over the shell's voxels of every cube (A, B the spectra). Pooling lets a cube with
    little power in a shell (a band-filtered cube holds only a few voxels of the low shells)
    count in proportion to that power, instead of as a full ±1 vote per cube: on the H200 this
    steadied the in-wedge score across seeds from a 0.025 spread to 0.004 and raised its mean
    (benchmarks/QUALITY.md, fifth set). The zero frequency and the corners past Nyquist are left
    out; a shell without power in either input counts as FSC 0. Range [0, 2]; 0 for identical
    inputs. Blind to a per-shell scale of the prediction, so mainly useful beside another loss.
    """
    spec_a = torch.fft.rfftn(prediction.float(), dim=_DIMS).flatten(1)
    spec_b = torch.fft.rfftn(target.float(), dim=_DIMS).flatten(1)
    shell, weight, n_shells = _shells(prediction.shape[-3:], prediction.device)
    weight = weight.flatten()

    def shell_sums(values: torch.Tensor) -> torch.Tensor:
        """(n_shells,) sums over the batch and each shell's voxels, Friedel mates counted."""
        sums = torch.zeros(n_shells + 1, device=values.device)
        return sums.index_add(0, shell, (values * weight).sum(0))[1:]

    cross = shell_sums((spec_a * spec_b.conj()).real)
    power = shell_sums(spec_a.real**2 + spec_a.imag**2) * shell_sums(
        spec_b.real**2 + spec_b.imag**2
    )
    fsc = cross / torch.sqrt(power.clamp_min(1e-30))
    return 1.0 - fsc.mean()


def l2_fsc_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error plus (1 - mean FSC): L2 fixes each shell's amplitude, the FSC term
    weighs every shell alike, so weak high-frequency shells count as much as strong low ones."""
    return l2_loss(prediction, target) + fsc_loss(prediction, target)


BASE_LOSSES: dict[str, BaseLoss] = {
    "l2": l2_loss,
    "l1": l1_loss,
    "huber": huber_loss,
    "fsc": fsc_loss,
    "l2+fsc": l2_fsc_loss,
}


def get_base_loss(name: str, fsc_weight: float = 1.0) -> BaseLoss:
    """The base loss called ``name`` (case-insensitive: "L2" = "l2").

    ``fsc_weight`` scales the FSC term of "L2+FSC" (L2 + fsc_weight * (1 - mean FSC)); the
    other losses have no such term and accept only the default 1.
    """
    try:
        loss = BASE_LOSSES[name.lower()]
    except KeyError:
        raise InputError(
            f"unknown loss {name!r}; choose one of: {', '.join(BASE_LOSSES)}"
        ) from None
    if fsc_weight == 1.0:
        return loss
    if loss is not l2_fsc_loss:
        raise InputError(f"an FSC weight applies to the L2+FSC loss only, not to {name!r}")

    def weighted_l2_fsc_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l2_loss(prediction, target) + fsc_weight * fsc_loss(prediction, target)

    return weighted_l2_fsc_loss


@dataclass(frozen=True)
class LossTerms:
    """The loss to minimise and, detached for logging, its two band parts (scalars)."""

    total: torch.Tensor
    n2n: torch.Tensor
    mw: torch.Tensor


def _band_losses(
    prediction: torch.Tensor,
    target: torch.Tensor,
    n2n_band: torch.Tensor,
    mw_band: torch.Tensor,
    base: BaseLoss,
) -> tuple[torch.Tensor, torch.Tensor]:
    shape = prediction.shape[-3:]
    spec_p = torch.fft.rfftn(prediction.float(), dim=_DIMS)
    spec_t = torch.fft.rfftn(target.float(), dim=_DIMS)

    def band_loss(band: torch.Tensor) -> torch.Tensor:
        band_p = torch.fft.irfftn(spec_p * band, s=shape, dim=_DIMS)
        band_t = torch.fft.irfftn(spec_t * band, s=shape, dim=_DIMS)
        return base(band_p, band_t)

    return band_loss(n2n_band), band_loss(mw_band)


def masked_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    n2n_band: torch.Tensor | None,
    mw_band: torch.Tensor | None,
    mw_weight: float,
    base: BaseLoss,
) -> LossTerms:
    """The training loss of ALGORITHM §5 step 8 (DeepDeWedge-style masked loss).

    Each band-filtered pair (prediction and target both filtered by the band in Fourier space)
    is compared with ``base``. With mw_weight > 0, total = n2n + mw_weight * mw; otherwise total
    is ``base`` over the whole cube and the band losses are computed without gradients, for
    logging only. Without bands (method n2n), total = base(prediction, target), n2n = total
    and mw = 0.

    Args:
        prediction: (B', 1, c, c, c) the (output-filtered) network output.
        target: (B', 1, c, c, c).
        n2n_band, mw_band: (B', 1, c, c, c//2+1) rfft-layout masks, or both None.
        mw_weight: weight of the missing-wedge band.
        base: a base loss, e.g. ``get_base_loss("L2")``.

    Returns:
        LossTerms with ``total`` carrying gradients and ``n2n``, ``mw`` detached.
    """
    if n2n_band is None or mw_band is None:
        total = base(prediction, target)
        return LossTerms(total, total.detach(), torch.zeros((), device=total.device))
    if mw_weight > 0:
        n2n, mw = _band_losses(prediction, target, n2n_band, mw_band, base)
        return LossTerms(n2n + mw_weight * mw, n2n.detach(), mw.detach())
    total = base(prediction, target)
    with torch.no_grad():
        n2n, mw = _band_losses(prediction, target, n2n_band, mw_band, base)
    return LossTerms(total, n2n, mw)
