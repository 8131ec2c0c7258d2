"""Rotations of cubes and of their centred spectra: the 24-element cube group and SO(3).

Example:
    k = 5
    rotated = rotate_cube(cube, k)                               # (..., n, n, n)
    rotated_wedge = rotate_centred_spectrum(wedge_mask, k)       # the matching wedge
    mirrored, mirrored_wedge = mirror_x(cube), mirror_x(wedge_mask)  # x -> -x, both alike
    matrices = random_rotation_matrices(4, torch.Generator().manual_seed(0), device="cuda")
    rotated_batch = rotate_volume(batch, matrices)               # (4, 1, n, n, n)
    rotated_masks = rotate_centred_mask(wedge_mask, matrices)    # (4, 1, n, n, n)

Conventions. A rotation is a 3x3 matrix R acting on column vectors of (z, y, x) coordinates
measured from the voxel with index N//2 on every axis, the same index that holds the zero
frequency of a centred spectrum. Rotating a volume v by R gives w with w(R c) = v(c), i.e.
w(c) = v(R^T c).

Cube rotations are exact index operations on the periodic cube: a sign flip of an axis maps index
i to (2 * (N//2) - i) mod N, i.e. a plain flip for odd N and a flip followed by a roll by one for
even N (the first slice stays in place, the rest reverse about N//2). On a centred spectrum the
same index map is the true spectral rotation: for even N,
``fftshift(fftn(rotate_cube(v, k))) == rotate_centred_spectrum(fftshift(fftn(v)), k)`` holds
exactly, complex values included. For odd N the DFT's phase origin (index 0) is not the rotation
centre, and the relation holds up to the phase exp(2 pi i * sum_a j_a / N) summed over the output
axes a that R negates (j the signed centred frequency index); magnitudes, and so masks, map exactly.

Arbitrary rotations resample by trilinear interpolation (``grid_sample``, zeros outside). For
data, ``rotate_volume(..., fine=True)`` first doubles the sampling with cubic midpoints
(``midpoint_upsample``) and reads outside voxels by reflection: plain trilinear reading at random
sub-voxel offsets halves the amplitude near Nyquist, and zero corners put noise-free flat
regions and sharp edges into the cube.
"""

import itertools

import torch
import torch.nn.functional as F

from isonet2.fourier.grids import Device

Matrix = tuple[tuple[int, ...], ...]


def _proper_signed_permutations() -> tuple[Matrix, ...]:
    """The 24 signed permutation matrices with determinant +1, the identity first."""
    found = []
    for perm in itertools.permutations(range(3)):
        inversions = sum(perm[i] > perm[j] for i in range(3) for j in range(i + 1, 3))
        for signs in itertools.product((1, -1), repeat=3):
            if (-1) ** inversions * signs[0] * signs[1] * signs[2] != 1:
                continue
            rows = tuple(
                tuple(signs[row] if col == perm[row] else 0 for col in range(3)) for row in range(3)
            )
            found.append(rows)
    return tuple(found)


CUBE_ROTATIONS: tuple[Matrix, ...] = _proper_signed_permutations()
"""The 24 proper rotations of the cube as integer matrices on (z, y, x); index 0 is identity."""


def cube_rotation_matrices(
    *, dtype: torch.dtype = torch.int64, device: Device = None
) -> torch.Tensor:
    """``CUBE_ROTATIONS`` as a (24, 3, 3) tensor; k indexes the rotation used by ``rotate_cube``."""
    return torch.tensor(CUBE_ROTATIONS, dtype=dtype, device=device)


def _negate_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Map index i -> (2 * (N//2) - i) mod N along ``dim``: negation about index N//2."""
    flipped = torch.flip(x, (dim,))
    return torch.roll(flipped, 1, dim) if x.shape[dim] % 2 == 0 else flipped


def _apply_signed_permutation(x: torch.Tensor, k: int) -> torch.Tensor:
    if not 0 <= k < len(CUBE_ROTATIONS):
        raise ValueError(f"cube rotation index must be in 0..23, got {k}")
    if x.ndim < 3:
        raise ValueError(f"need a (..., z, y, x) tensor, got shape {tuple(x.shape)}")
    matrix = CUBE_ROTATIONS[k]
    lead = x.ndim - 3
    sources = [next(col for col in range(3) if row[col]) for row in matrix]
    out = x.permute(*range(lead), *(lead + col for col in sources))
    for axis, (row, col) in enumerate(zip(matrix, sources, strict=True)):
        if row[col] < 0:
            out = _negate_axis(out, lead + axis)
    return out


def rotate_cube(volume: torch.Tensor, k: int) -> torch.Tensor:
    """Rotate (..., z, y, x) by ``CUBE_ROTATIONS[k]`` about voxel N//2, exactly (periodic cube).

    Pure permute/flip/roll of the last three axes: no interpolation, any dtype, any leading
    dimensions. The last three axes are meant to be equal (a non-cube gets its shape permuted).
    """
    return _apply_signed_permutation(volume, k)


def rotate_centred_spectrum(spectrum: torch.Tensor, k: int) -> torch.Tensor:
    """Rotate a centred spectrum or Fourier mask (..., z, y, x) to match ``rotate_cube(v, k)``.

    The zero frequency at index N//2 stays put and frequency j moves to R j, with the even-length
    Nyquist index -N/2 treated as +N/2 (mod N). See the module docstring for the exact complex
    relation (exact for even N; a known phase for odd N).
    """
    return _apply_signed_permutation(spectrum, k)


def mirror_x(volume: torch.Tensor) -> torch.Tensor:
    """Mirror (..., z, y, x) through the plane x = N//2, exactly: index i -> (2 (N//2) - i) mod N.

    The same index map mirrors a centred spectrum or Fourier mask to match (kx -> -kx about the
    zero frequency at N//2), with the exactness of ``rotate_centred_spectrum``.
    """
    return _negate_axis(volume, volume.ndim - 1)


def random_rotation_matrices(
    n: int, generator: torch.Generator | None = None, *, device: Device = None
) -> torch.Tensor:
    """``n`` rotation matrices drawn uniformly from SO(3), (n, 3, 3) float32 on ``device``.

    Unit quaternions from normalised 4D Gaussians. The draw happens on the CPU in float64 (pass a
    CPU ``generator``), so one seed gives the same rotations on every device.
    """
    quat = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    w, a, b, c = (quat / quat.norm(dim=1, keepdim=True)).unbind(1)
    matrices = torch.stack(
        [
            1 - 2 * (b * b + c * c),
            2 * (a * b - c * w),
            2 * (a * c + b * w),
            2 * (a * b + c * w),
            1 - 2 * (a * a + c * c),
            2 * (b * c - a * w),
            2 * (a * c - b * w),
            2 * (b * c + a * w),
            1 - 2 * (a * a + b * b),
        ],
        dim=1,
    ).reshape(n, 3, 3)
    return matrices.to(device=device, dtype=torch.float32)


def _sampling_grid(shape: torch.Size, matrices: torch.Tensor) -> torch.Tensor:
    """grid_sample grid (b, z, y, x, 3), (x, y, z) order: output c reads input R^T c."""
    device = matrices.device
    centre = torch.tensor([n // 2 for n in shape], dtype=torch.float64, device=device)
    axes = [torch.arange(n, dtype=torch.float64, device=device) for n in shape]
    coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1) - centre
    source = torch.einsum("zyxi,bij->bzyxj", coords, matrices.to(torch.float64)) + centre
    scale = torch.tensor([2.0 / (n - 1) for n in shape], dtype=torch.float64, device=device)
    return (source * scale - 1.0).flip(-1).to(torch.float32)


def midpoint_upsample(volume: torch.Tensor) -> torch.Tensor:
    """(..., z, y, x) -> (..., 2z-1, 2y-1, 2x-1): the samples kept at even indices, cubic
    midpoints (-1, 9, 9, -1)/16 between them (edges repeated), one axis after the other.

    Index 2i of the result is sample i, so grid coordinates normalised with
    ``align_corners=True`` address the same points in both.
    """
    out = volume.to(torch.float32)
    for dim in (-3, -2, -1):
        n = out.shape[dim]
        if n < 2:
            continue
        padded = torch.cat([out.narrow(dim, 0, 1), out, out.narrow(dim, n - 1, 1)], dim=dim)
        near = out.narrow(dim, 0, n - 1) + out.narrow(dim, 1, n - 1)
        far = padded.narrow(dim, 0, n - 1) + padded.narrow(dim, 3, n - 1)
        middle = (9.0 * near - far) / 16.0
        shape = list(out.shape)
        shape[dim] = 2 * n - 1
        both = out.new_empty(shape)
        index = [slice(None)] * out.ndim
        index[dim] = slice(0, None, 2)
        both[tuple(index)] = out
        index[dim] = slice(1, None, 2)
        both[tuple(index)] = middle
        out = both
    return out


def rotate_volume(
    volume: torch.Tensor, matrices: torch.Tensor, *, fine: bool = False
) -> torch.Tensor:
    """Rotate each volume of a batch by its own matrix about voxel N//2, trilinear.

    Args:
        volume: (b, c, z, y, x) real tensor (every axis at least 2 long).
        matrices: (b, 3, 3) rotations on (z, y, x) coordinates, e.g. from
            ``random_rotation_matrices``; w(c) = v(R^T c) about voxel N//2.
        fine: read from the ``midpoint_upsample``d volume (half the interpolation blur) and
            reflect at the faces instead of reading zeros outside; for data, not for masks.

    Returns:
        (b, c, z, y, x) float32. A 90-degree matrix reproduces ``rotate_cube`` away from the one
        slice that the periodic cube rotation wraps.
    """
    if volume.ndim != 5 or matrices.shape != (volume.shape[0], 3, 3):
        raise ValueError(
            f"need volume (b, c, z, y, x) and matrices (b, 3, 3), got {tuple(volume.shape)} "
            f"and {tuple(matrices.shape)}"
        )
    grid = _sampling_grid(volume.shape[-3:], matrices.to(volume.device))
    source = midpoint_upsample(volume) if fine else volume.to(torch.float32)
    return F.grid_sample(
        source,
        grid,
        mode="bilinear",
        padding_mode="reflection" if fine else "zeros",
        align_corners=True,
    )


def rotate_centred_mask(mask: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Rotate a centred Fourier mask to match ``rotate_volume(v, matrices)``.

    A real-space rotation by orthogonal R rotates the spectrum by the same R about the zero
    frequency, which sits at index N//2 like the real-space centre of ``rotate_volume``, so the
    same resampling applies. Trilinear interpolation: a binary mask comes back as float32 in
    [0, 1] with a soft edge about one voxel wide (threshold at 0.5 where a binary mask is needed);
    voxels rotated in from outside the cube are 0 (for a wedge mask they lie outside its sphere).

    Args:
        mask: (z, y, x), shared by the batch, or (b, 1, z, y, x), centred layout.
        matrices: (b, 3, 3) rotations as for ``rotate_volume``.

    Returns:
        (b, 1, z, y, x) float32.
    """
    if mask.ndim == 3:
        mask = mask.expand(matrices.shape[0], 1, *mask.shape)
    return rotate_volume(mask, matrices)
