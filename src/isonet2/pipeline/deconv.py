"""deconv: Wiener-filter CTF deconvolution of the star's tomograms into rlnDeconvTomoName.

Example:
    isonet.py deconv tomograms.star --deconvfolder deconv --snrfalloff 0.7 --deconvstrength 1
    isonet.py deconv tomograms.star --chunk_size 256 --overlap_rate 0.25 --tomo_idx 1,3-5

Rows of even/odd halves only (no rlnTomoName) deconvolve their even half when --input_column
is left at rlnTomoName. Every input is checked before any work starts. Each output
`{output_dir}/{stem}_deconv.mrc` (voxel size and origin kept) appears atomically, and the star
is rewritten after each one, so a run that is stopped keeps the tomograms it finished.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from isonet2.config import CommandConfig, DeconvConfig
from isonet2.errors import InputError
from isonet2.io.atomic import make_folder, remove_leftover_temps
from isonet2.io.mrc import new_volume, open_volume, read_info, require_tomogram
from isonet2.io.progress import counted, progress_bar
from isonet2.io.runrecord import write_run_config
from isonet2.io.star import (
    DECONV_COLUMN,
    HALF1_COLUMN,
    PATH_COLUMNS,
    TOMOGRAM_COLUMN,
    StarTable,
    TomogramRow,
    check_path_column,
    defocus_in_microns,
    missing_file,
    read_star,
    write_star,
)
from isonet2.preprocess.deconv import deconvolve

logger = logging.getLogger(__name__)


@dataclass
class DeconvResult:
    """The updated star and the deconvolved tomograms, in the order of the rows processed."""

    star_path: Path
    outputs: list[Path] = field(default_factory=list)


def input_path(row: TomogramRow, column: str, star_path: Path) -> Path:
    """The existing file named in ``column`` of ``row``; an empty cell or a missing file is an
    error naming the row and the column."""
    value = row.path_in_column(column)
    if value is None:
        raise InputError(
            f"{star_path}: row {row.index} has no {column}; fill it in or choose another "
            "column with --input_column"
        )
    path = Path(value)
    if not path.is_file():
        raise missing_file(f"{star_path}: row {row.index}, column {column}", path)
    return path


def _source_column(row: TomogramRow, column: str) -> str:
    """`column`, or the even half for a row of halves only when the full map was asked for
    (a star from prepare_star --even/--odd, as in the tutorial's denoise section: the
    deconvolved half then serves make_mask, as make_mask itself falls back to that half)."""
    if column == TOMOGRAM_COLUMN and row.tomogram_path is None and row.half1_path is not None:
        return HALF1_COLUMN
    return column


def start_output_folder(
    cfg: CommandConfig, output_dir: Path, outputs: list[Path], record_name: str
) -> None:
    """Make `output_dir`, remove the temps a run killed with SIGKILL left of `outputs` and of
    the run record (this run writes them again), then write the record `record_name`."""
    make_folder(output_dir, cfg.flag("output_dir"))
    owned = {target.name for target in outputs} | {record_name}
    remove_leftover_temps(output_dir, owned.__contains__)
    write_run_config(cfg, output_dir / record_name)


def check_unique_outputs(
    outputs: list[Path], star_path: Path, table: StarTable, written_column: str, flag: str
) -> None:
    """Refuse outputs that would replace what the user has: two rows writing one file (inputs
    with the same file name), or an output on a file the star names in another column (another
    row's tomogram, say, named like this row's output: t.mrc and t_mask.mrc in one folder).
    Files in `written_column`, the one the command fills, are its own earlier outputs.
    The star's folder must be writable too: the star is rewritten after the first tomogram
    (a read-only one was found only after that tomogram's work)."""
    if not os.access(star_path.parent, os.W_OK | os.X_OK):
        raise InputError(
            f"{star_path}: its folder cannot be written (read-only or no permission), and the "
            "star is rewritten after each tomogram; run in a copy of the project you can write to"
        )
    seen: set[Path] = set()
    for output in outputs:
        if output in seen:
            raise InputError(
                f"{star_path}: two tomograms would both write {output}; give the inputs "
                "distinct file names"
            )
        seen.add(output)
    named: dict[Path, tuple[int, str, str]] = {}
    for row in table.rows:
        for column in PATH_COLUMNS:
            value = row.path_in_column(column)
            if value and column != written_column:
                named.setdefault(Path(value).resolve(), (row.index, column, value))
    for output in outputs:
        if output.resolve() in named:
            index, column, value = named[output.resolve()]
            raise InputError(
                f"{output} would replace {value}, the {column} of row {index} of {star_path}; "
                f"choose another {flag}"
            )


def run(cfg: DeconvConfig) -> DeconvResult:
    """Deconvolve the selected rows' tomograms and record them in rlnDeconvTomoName."""
    star_path = Path(cfg.star_file)
    table = read_star(star_path)
    column = check_path_column(cfg.input_column)
    rows = table.select(cfg.selected_indices())
    sources = [_source_column(row, column) for row in rows]
    inputs = [input_path(row, source, star_path) for row, source in zip(rows, sources, strict=True)]
    halves_only = [row.index for row, source in zip(rows, sources, strict=True) if source != column]
    if halves_only:
        logger.info(
            "rows %s have no %s: deconvolving their even half (%s)",
            halves_only,
            column,
            HALF1_COLUMN,
        )
    infos = [require_tomogram(read_info(path)) for path in inputs]
    microns = defocus_in_microns(rows)
    if microns:
        logger.warning("%s; fix rlnDefocus in %s", microns, star_path)
    output_dir = Path(cfg.output_dir)
    outputs = [output_dir / f"{path.stem}_deconv.mrc" for path in inputs]
    check_unique_outputs(outputs, star_path, table, DECONV_COLUMN, cfg.flag("output_dir"))
    start_output_folder(cfg, output_dir, outputs, "deconv_config.json")

    for row, info, target in progress_bar(
        list(zip(rows, infos, outputs, strict=True)), desc="deconv", unit="tomo"
    ):
        logger.info(
            "tomogram %d: %s -> %s (defocus %.0f Å)",
            row.index,
            info.path,
            target,
            row.defocus_angstrom,
        )
        with new_volume(
            target,
            info.shape,
            voxel_size_angstrom=info.voxel_size_angstrom,
            origin_angstrom=info.origin_angstrom,
        ) as out:
            try:
                deconvolve(
                    open_volume(info.path),
                    pixel_size_angstrom=row.pixel_size_angstrom,
                    defocus_angstrom=row.defocus_angstrom,
                    voltage_kv=row.voltage_kv,
                    cs_mm=row.cs_mm,
                    amplitude_contrast=row.amplitude_contrast,
                    snrfalloff=cfg.snrfalloff,
                    deconvstrength=cfg.deconvstrength,
                    highpassnyquist=cfg.highpassnyquist,
                    phase_flipped=cfg.phaseflipped,
                    chunk_size=cfg.chunk_size,
                    overlap_rate=cfg.overlap_rate,
                    threads=cfg.ncpus,
                    out=out,
                )
            except InputError as error:
                raise InputError(f"{star_path}: row {row.index}: {error}") from None
        row.deconv_path = str(target)
        write_star(table, star_path)
    logger.info(
        "deconvolved %s into %s; updated %s", counted(len(rows), "tomogram"), output_dir, star_path
    )
    return DeconvResult(star_path=star_path, outputs=outputs)
