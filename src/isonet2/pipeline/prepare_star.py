"""prepare_star: list tomograms and their acquisition parameters in tomograms.star.

Example:
    isonet.py prepare_star -e tomograms/EVN -o tomograms/ODD --pixel_size 5.4 --number_subtomos 500

Everything is checked before anything is written: files readable, even/odd paired one to one
with equal shapes, pixel size known, one defocus per tomogram (or one for all).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isonet2.config import PrepareStarConfig
from isonet2.errors import InputError
from isonet2.io.atomic import remove_leftover_temps
from isonet2.io.coordinates import read_coordinates
from isonet2.io.mrc import (
    VolumeInfo,
    list_volumes,
    new_volume,
    open_volume,
    read_info,
    require_tomogram,
)
from isonet2.io.progress import counted, progress_bar
from isonet2.io.runrecord import write_run_config
from isonet2.io.star import (
    StarTable,
    TomogramRow,
    check_physics,
    defocus_in_microns,
    replace_star,
)

logger = logging.getLogger(__name__)

AVERAGE_FOLDER = "averaged_tomos"
AUTO_SUBTOMOS_TOTAL = 3000


@dataclass
class PrepareStarResult:
    """The written table and where it went."""

    star_path: Path
    table: StarTable


def _check_pairs(
    first: list[Path],
    second: list[Path],
    what: str,
    *,
    halves: bool = False,
    voxels: bool = True,
) -> list[VolumeInfo]:
    """Infos of `first`; each pair must have one shape, one voxel size (when `voxels`, i.e.
    the header's size is used) and, for `halves`, be two files."""
    if len(first) != len(second):
        raise InputError(
            f"{what}: {len(first)} files in {first[0].parent} but {len(second)} in "
            f"{second[0].parent}; they are paired one to one by sorted name"
        )
    infos = []
    for a, b in zip(first, second, strict=True):
        if halves and a.resolve() == b.resolve():
            raise InputError(
                f"{what}: {a} is both halves; give the even and the odd reconstructions "
                "(noise2noise needs two independent halves)"
            )
        info_a, info_b = read_info(a), read_info(b)
        if info_a.shape != info_b.shape:
            raise InputError(
                f"{what}: {a} has shape {info_a.shape} but its partner {b} has {info_b.shape} "
                "(z, y, x); pairs must have equal shapes"
            )
        size_a, size_b = info_a.pixel_size_angstrom, info_b.pixel_size_angstrom
        if (
            voxels
            and size_a > 0
            and size_b > 0
            and abs(size_a - size_b) > 0.01 * max(size_a, size_b)
        ):
            raise InputError(
                f"{what}: {a} has voxel size {size_a:g} Å but its partner {b} {size_b:g} Å; "
                "pairs must come from one reconstruction (or give --pixel_size <Å> if a header "
                "is wrong)"
            )
        infos.append(info_a)
    return infos


def _pixel_sizes(cfg: PrepareStarConfig, infos: list[VolumeInfo]) -> list[float]:
    if cfg.pixel_size != "auto":
        given = float(cfg.pixel_size)
        differ = [
            info
            for info in infos
            if info.pixel_size_angstrom > 0 and abs(info.pixel_size_angstrom - given) > 0.01 * given
        ]
        if differ:  # a typo, or a header that was wrong: either way the user should know
            others = f" and {counted(len(differ) - 1, 'other')}" if len(differ) > 1 else ""
            logger.warning(
                "--pixel_size %g differs from the MRC header of %s (%g Å)%s; the star gets "
                "%g Å (CTF, wedge and resolutions use it), while written maps keep their input's "
                "header voxel size",
                given,
                differ[0].path,
                differ[0].pixel_size_angstrom,
                others,
                given,
            )
        return [given] * len(infos)
    sizes = []
    for info in infos:
        if not info.pixel_size_angstrom > 0:
            raise InputError(
                f"{info.path}: the MRC header has no pixel size (voxel size "
                f"{info.pixel_size_angstrom:g}); give it with --pixel_size <Å>"
            )
        if max(info.voxel_size_angstrom) > 1.01 * min(info.voxel_size_angstrom):
            shown = " / ".join(f"{v:g}" for v in info.voxel_size_angstrom)
            raise InputError(
                f"{info.path}: the MRC header gives voxel sizes x / y / z = {shown} Å, not "
                "cubic voxels as isonet2 needs; resample the map, or give --pixel_size <Å> if "
                "the header is wrong"
            )
        sizes.append(info.pixel_size_angstrom)
    return sizes


def _per_tomogram(values: list[float], count: int, flag: str) -> list[float]:
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise InputError(
            f"{flag}: {len(values)} values for {count} tomograms; give one value for all or "
            f"exactly {count}, in the sorted order of the files"
        )
    return values


def _folder_files(folder: str, count: int, flag: str, *, volumes: bool) -> list[Path]:
    directory = Path(folder)
    if not volumes:
        if not directory.is_dir():
            raise InputError(f"{flag} {directory}: no such folder")
        files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    else:
        files = list_volumes(directory)
    if len(files) != count:
        raise InputError(
            f"{flag} {directory}: {len(files)} files for {count} tomograms; "
            "give one per tomogram, paired by sorted name"
        )
    return files


def _write_average(even: Path, odd: Path, folder: Path, voxel: tuple[float, float, float]) -> Path:
    """even + odd, slab by slab, so memory stays bounded for any tomogram size."""
    target = folder / f"{even.stem}_full.mrc"
    a, b = open_volume(even), open_volume(odd)
    with new_volume(target, a.shape, voxel_size_angstrom=voxel) as out:
        for start in range(0, a.shape[0], 16):
            stop = start + 16
            out[start:stop] = np.asarray(a[start:stop], np.float32) + np.asarray(
                b[start:stop], np.float32
            )
    return target


def _check_star_target(path: Path, flag: str) -> None:
    """InputError when `path` is a folder or a file that is not a star: writing the star
    would replace it (a tomogram, say, typed where the star's name belongs)."""
    if path.is_dir():
        raise InputError(
            f"{flag} {path}: is a folder; give the star file's name, e.g. {path}/tomograms.star"
        )
    if not path.exists():
        return
    with path.open("rb") as stream:
        start = stream.read(65536)
    if b"\0" in start or b"data_" not in start:
        raise InputError(
            f"{flag} {path}: this file exists and is not a star file; writing the star would "
            "replace it: give another name (an existing star is replaced and kept as <name>.bak)"
        )


def run(cfg: PrepareStarConfig) -> PrepareStarResult:
    """Check the inputs, then write the star (and averaged tomograms if asked)."""
    _check_star_target(Path(cfg.star_name), cfg.flag("star_name"))
    full = list_volumes(cfg.full) if cfg.full else None
    even = list_volumes(cfg.even) if cfg.even else None
    odd = list_volumes(cfg.odd) if cfg.odd else None
    infos: list[VolumeInfo] = []
    auto = cfg.pixel_size == "auto"  # header voxel sizes are used: pairs must agree
    if even is not None and odd is not None:
        infos = _check_pairs(even, odd, "--even/--odd", halves=True, voxels=auto)
    if full is not None:
        if even:
            infos = _check_pairs(full, even, "full/--even", voxels=auto)
        else:
            infos = [read_info(p) for p in full]
    for info in infos:
        require_tomogram(info)
    count = len(infos)
    pixel_sizes = _pixel_sizes(cfg, infos)
    defoci = _per_tomogram(cfg.defocus, count, "--defocus")
    masks = (
        _folder_files(cfg.mask_folder, count, "--mask_folder", volumes=True)
        if cfg.mask_folder
        else None
    )
    if masks:
        for mask, info in zip(masks, infos, strict=True):
            if read_info(mask).shape != info.shape:
                raise InputError(
                    f"{mask}: mask shape {read_info(mask).shape} differs from {info.path} "
                    f"{info.shape}; masks must match their tomograms"
                )
    boxes = (
        _folder_files(cfg.coordinate_folder, count, "--coordinate_folder", volumes=False)
        if cfg.coordinate_folder
        else None
    )
    box_counts = [len(read_coordinates(p)) for p in boxes] if boxes else None
    if box_counts and cfg.number_subtomos != "auto":
        logger.warning(
            "--number_subtomos %d ignored: rlnNumberSubtomo is each coordinate file's line "
            "count (--coordinate_folder)",
            cfg.number_subtomos,
        )
    auto_count = max(1, int(AUTO_SUBTOMOS_TOTAL / count))
    subtomos = auto_count if cfg.number_subtomos == "auto" else cfg.number_subtomos

    star_path = Path(cfg.star_name)
    tomograms: list[str | None] = [str(p) for p in full] if full else [None] * count
    if full is None and cfg.create_average and even and odd:
        folder = star_path.parent / AVERAGE_FOLDER
        owned = {f"{e.stem}_full.mrc" for e in even}
        remove_leftover_temps(folder, owned.__contains__)  # a SIGKILLed run's average temps
        pairs = progress_bar(
            list(zip(even, odd, infos, strict=True)), desc="averaging halves", unit="tomo"
        )
        tomograms = [str(_write_average(e, o, folder, i.voxel_size_angstrom)) for e, o, i in pairs]
    elif full is not None and cfg.create_average:
        logger.warning("--create_average ignored: full tomograms were given")

    rows = [
        TomogramRow(
            index=i + 1,
            tomogram_path=tomograms[i],
            half1_path=str(even[i]) if even else None,
            half2_path=str(odd[i]) if odd else None,
            pixel_size_angstrom=pixel_sizes[i],
            defocus_angstrom=defoci[i],
            voltage_kv=cfg.voltage,
            cs_mm=cfg.cs,
            amplitude_contrast=cfg.ac,
            mask_path=str(masks[i]) if masks else None,
            tilt_min_deg=cfg.tilt_min,
            tilt_max_deg=cfg.tilt_max,
            box_file=str(boxes[i]) if boxes else None,
            number_subtomos=box_counts[i] if box_counts else subtomos,
        )
        for i in range(count)
    ]
    for row in rows:  # what every later command would refuse when it reads the star
        check_physics(
            row,
            f"{row.tomogram_path or row.half1_path}",
            "check --pixel_size (or the MRC header), --defocus, --voltage, --cs and --ac",
        )
    microns = defocus_in_microns(rows)
    if microns:
        logger.warning("%s; give --defocus in Å", microns)
    table = StarTable(rows=rows)
    replace_star(table, star_path)
    write_run_config(cfg, star_path.with_name(f"{star_path.stem}.prepare_star.json"))
    logger.info("wrote %s with %s:\n%s", star_path, counted(count, "tomogram"), _summary(table))
    return PrepareStarResult(star_path=star_path, table=table)


def _summary(table: StarTable) -> str:
    lines = [
        f"{'#':>3}  {'tomogram':<40} {'pixel Å':>8} {'defocus Å':>10} "
        f"{'tilts °':>11} {'subtomos':>8}"
    ]
    for row in table.rows:
        name = row.tomogram_path or f"{row.half1_path} + odd"
        lines.append(
            f"{row.index:>3}  {name[-40:]:<40} {row.pixel_size_angstrom:>8.3g} "
            f"{row.defocus_angstrom:>10.0f} {row.tilt_min_deg:>5.0f}..{row.tilt_max_deg:<4.0f} "
            f"{row.number_subtomos:>8d}"
        )
    return "\n".join(lines)
