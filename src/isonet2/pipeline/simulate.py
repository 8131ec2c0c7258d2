"""simulate: write a ready-to-train project of simulated tomograms with their ground truth.

Example:
    isonet.py simulate --preset cell -o sim --shape 128,256,256 --ntomos 2

Writes {output_dir}/ground_truth/sim_01.mrc, even/sim_01_EVN.mrc, odd/sim_01_ODD.mrc and
full/sim_01.mrc (= even + odd), ..., every file with its voxel size, then
{output_dir}/tomograms.star (halves, full maps as rlnTomoName, the acquisition parameters)
and {output_dir}/simulate_config.json. Star paths are relative to the folder simulate runs
in (output_dir/even/sim_01_EVN.mrc), the folder later commands must run from. Tomogram i
(from 0) uses seed + i. Files in output_dir are overwritten; the star is written last.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from isonet2.config import SimulateConfig
from isonet2.errors import InputError
from isonet2.io.atomic import make_folder
from isonet2.io.mrc import write_volumes_together
from isonet2.io.progress import counted, progress_bar
from isonet2.io.runrecord import write_run_config
from isonet2.io.star import StarTable, TomogramRow, replace_star
from isonet2.pipeline.prepare_star import AUTO_SUBTOMOS_TOTAL
from isonet2.simulate import (
    AcquisitionSettings,
    SimulatedTomogram,
    get_preset,
    simulate_tomogram,
)

logger = logging.getLogger(__name__)

STAR_NAME = "tomograms.star"
FOLDERS = ("ground_truth", "even", "odd", "full")


@dataclass
class SimulateResult:
    """The written star, its table, and the settings each tomogram was simulated with."""

    star_path: Path
    table: StarTable
    settings: list[AcquisitionSettings]


def tomogram_names(count: int) -> list[str]:
    """sim_01, sim_02, ... (at least two digits, enough for `count`)."""
    width = max(2, len(str(count)))
    return [f"sim_{i:0{width}d}" for i in range(1, count + 1)]


def _write_tomogram(root: Path, name: str, sim: SimulatedTomogram) -> dict[str, Path]:
    """The four volumes of one tomogram, each written atomically; returns folder -> path."""
    paths = {
        "ground_truth": root / "ground_truth" / f"{name}.mrc",
        "even": root / "even" / f"{name}_EVN.mrc",
        "odd": root / "odd" / f"{name}_ODD.mrc",
        "full": root / "full" / f"{name}.mrc",
    }
    volumes = {
        "ground_truth": sim.ground_truth,
        "even": sim.even,
        "odd": sim.odd,
        "full": sim.even + sim.odd,
    }
    write_volumes_together(
        {paths[folder]: volumes[folder] for folder in FOLDERS},
        voxel_size_angstrom=sim.settings.pixel_size_angstrom,
    )
    return paths


def _set_star_aside(star_path: Path) -> Path | None:
    """Move an existing star to `<name>.bak` before the first map is replaced: a run stopped
    part way leaves maps of two projects, and no star should then claim them as one."""
    if not star_path.is_file():
        return None
    backup = star_path.with_name(star_path.name + ".bak")
    os.replace(star_path, backup)
    logger.info("%s moved to %s until the new maps are written", star_path, backup)
    return backup


def _row(
    index: int, paths: dict[str, Path], settings: AcquisitionSettings, subtomos: int
) -> TomogramRow:
    return TomogramRow(
        index=index,
        tomogram_path=str(paths["full"]),
        half1_path=str(paths["even"]),
        half2_path=str(paths["odd"]),
        pixel_size_angstrom=settings.pixel_size_angstrom,
        defocus_angstrom=settings.defocus_angstrom,
        voltage_kv=settings.voltage_kv,
        cs_mm=settings.cs_mm,
        amplitude_contrast=settings.amplitude_contrast,
        tilt_min_deg=settings.tilt_min_deg,
        tilt_max_deg=settings.tilt_max_deg,
        number_subtomos=subtomos,
    )


def _check_tilt_range(cfg: SimulateConfig) -> None:
    """A range of one flag and one preset value that is empty: say which flag to add."""
    preset = get_preset(cfg.preset)
    low = preset.tilt_min_deg if cfg.tilt_min is None else cfg.tilt_min
    high = preset.tilt_max_deg if cfg.tilt_max is None else cfg.tilt_max
    if low >= high:
        missing = "--tilt_max" if cfg.tilt_max is None else "--tilt_min"
        raise InputError(
            f"tilt range {low:g}..{high:g} is empty (preset {cfg.preset} gives the one you left "
            f"out); give {missing} too"
        )


def run(cfg: SimulateConfig) -> SimulateResult:
    """Simulate cfg.number_tomograms tomograms, write their volumes, then the star."""
    _check_tilt_range(cfg)
    root = make_folder(cfg.output_dir, cfg.flag("output_dir"))
    names = tomogram_names(cfg.number_tomograms)
    subtomos = max(1, int(AUTO_SUBTOMOS_TOTAL / cfg.number_tomograms))
    rows: list[TomogramRow] = []
    used: list[AcquisitionSettings] = []
    logger.info(
        "simulating %s of shape %s (preset %s) into %s",
        counted(len(names), "tomogram"),
        tuple(cfg.shape),
        cfg.preset,
        root,
    )
    backup: Path | None = None
    for i, name in enumerate(progress_bar(names, desc="simulate", unit="tomo")):
        sim = simulate_tomogram(
            cfg.shape,
            pixel_size_angstrom=cfg.pixel_size,
            tilt_min_deg=cfg.tilt_min,
            tilt_max_deg=cfg.tilt_max,
            tilt_step_deg=cfg.tilt_step,
            defocus_angstrom=cfg.defocus,
            snr=cfg.snr,
            seed=cfg.seed + i,
            preset=cfg.preset,
        )
        if i == 0:
            backup = _set_star_aside(root / STAR_NAME)
        paths = _write_tomogram(root, name, sim)
        rows.append(_row(i + 1, paths, sim.settings, subtomos))
        used.append(sim.settings)
    table = StarTable(rows=rows)
    star_path = root / STAR_NAME
    if backup is not None:  # back in place: replace_star keeps it as .bak if it differs
        os.replace(backup, star_path)
    replace_star(table, star_path)
    write_run_config(cfg, root / "simulate_config.json")
    logger.info("%s", _summary(star_path, used[0], len(rows)))
    return SimulateResult(star_path=star_path, table=table, settings=used)


def _summary(star_path: Path, settings: AcquisitionSettings, count: int) -> str:
    return (
        f"wrote {counted(count, 'tomogram')} and {star_path}: "
        f"pixel {settings.pixel_size_angstrom:g} Å, "
        f"tilts {settings.tilt_min_deg:g}..{settings.tilt_max_deg:g}° every "
        f"{settings.tilt_step_deg:g}°, defocus {settings.defocus_angstrom:g} Å, "
        f"SNR {settings.snr:g}\n"
        f"next: isonet.py refine {star_path} (run from this folder); score results with "
        f"isonet.py evaluate --star {star_path} --ground_truth {star_path.parent / 'ground_truth'}"
    )
