"""One epoch's cubes: crop at the sampler's centres, normalise, invert contrast, batch.

Example:
    centres = sampler.centres(epoch)                   # (n, 4) [tomogram position, z, y, x]
    dataset = CubeDataset(tomoset, centres, seed=0, epoch=epoch)
    loader = make_loader(dataset, 4, num_workers=2, pin_memory=True)
    for batch in loader:                               # halves: batch["even"] (b, 1, z, y, x)
        even, odd, tomo = batch["even"], batch["odd"], batch["tomo"]

Each cube is read alone from its memory map and becomes x = (mean - v) / std with its volume's
central-slab statistics (ALGORITHM §4). Even and odd share the centre and are swapped with
probability 0.5, a coin fixed by (seed, epoch, item index), so batches are reproducible
whatever the worker count. Datasets pickle small (volumes travel as paths), so DataLoader
workers re-open the memory maps themselves.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from isonet2.data.sampler import SWAP_STREAM, epoch_rng
from isonet2.data.tomograms import TomogramSet
from isonet2.errors import InputError
from isonet2.preprocess.normalize import normalize_inverted

logger = logging.getLogger(__name__)


class CubeDataset(Dataset[dict[str, Any]]):
    """Normalised, contrast-inverted cubes at one epoch's centres.

    Item i is, for source "halves", {"even": (1, c, c, c) float32, "odd": (1, c, c, c) float32,
    "tomo": tomogram position}, with even and odd swapped when item i's coin says so; for
    "single", {"x": (1, c, c, c) float32, "tomo": position}. c = the set's cube size.
    """

    def __init__(self, tomoset: TomogramSet, centres: np.ndarray, *, seed: int, epoch: int) -> None:
        centres = np.asarray(centres, dtype=np.int64)
        if centres.ndim != 2 or centres.shape[1] != 4:
            raise ValueError(f"centres must be (n, 4) [position, z, y, x], got {centres.shape}")
        self.tomoset = tomoset
        self.centres = centres
        self.swap = epoch_rng(seed, epoch, SWAP_STREAM).random(len(centres)) < 0.5

    def __len__(self) -> int:
        return len(self.centres)

    def __getitem__(self, item: int) -> dict[str, Any]:
        position, z, y, x = (int(v) for v in self.centres[item])
        tomogram = self.tomoset[position]
        size = self.tomoset.cube_size
        corner = (z - size // 2, y - size // 2, x - size // 2)
        cubes = [
            torch.from_numpy(normalize_inverted(volume.crop(corner, size), mean, std))[None]
            for volume, (mean, std) in zip(tomogram.volumes, tomogram.stats, strict=True)
        ]
        if self.tomoset.source == "single":
            return {"x": cubes[0], "tomo": position}
        even, odd = (cubes[1], cubes[0]) if self.swap[item] else (cubes[0], cubes[1])
        return {"even": even, "odd": odd, "tomo": position}


def make_loader(
    dataset: CubeDataset,
    batch_size: int,
    *,
    num_workers: int,
    pin_memory: bool,
    drop_last: bool = True,
) -> DataLoader[dict[str, Any]]:
    """Batches of `dataset` in its (already shuffled) order: tensors (b, 1, z, y, x), tomo (b,).

    Workers live for one pass: the trainer builds a loader per epoch (each epoch has its own
    centres), and persistent workers would outlive the epoch until a garbage collection, so an
    in-process refine (the Python API) left them running after it returned. With drop_last, an
    epoch shorter than one batch is an InputError rather than a silent empty epoch.
    """
    if drop_last and len(dataset) < batch_size:
        raise InputError(
            f"an epoch has {len(dataset)} subtomograms per process, fewer than batch_size "
            f"{batch_size}; raise the number of subtomograms or lower --batch_size"
        )
    logger.debug("%d cubes in batches of %d, %d workers", len(dataset), batch_size, num_workers)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        multiprocessing_context=worker_start_context() if num_workers > 0 else None,
        worker_init_fn=leave_stops_to_the_trainer if num_workers > 0 else None,
    )


Batch = TypeVar("Batch")


class EpochBatches(Generic[Batch]):
    """One pass over a DataLoader, as a context manager that ends its workers on the way out.

    Example:
        with EpochBatches(loader) as batches:
            for batch in batches:   # a break, an error or a stop signal may end the pass
                ...

    Leaving the block shuts the loader's worker processes down at once, however the pass
    ended. Otherwise they live as long as the loader's iterator, which an exception's traceback
    can keep until the interpreter exits; there multiprocessing ends leftover workers with
    SIGTERM, which ours ignore (`leave_stops_to_the_trainer`), and waits for them forever: a
    refine that had printed its error never exited.

    An InputError raised in a worker comes out as its own one line: torch raises it again in
    this process with "Caught InputError in DataLoader worker process 0. Original Traceback
    ..." folded into the message, which the command line would print whole.
    """

    def __init__(self, loader: Iterable[Batch]) -> None:
        self._iterator = iter(loader)

    def __iter__(self) -> EpochBatches[Batch]:
        return self

    def __next__(self) -> Batch:
        try:
            return next(self._iterator)
        except InputError as error:
            lines = str(error).rstrip().splitlines()
            if not (len(lines) > 1 and lines[0].startswith("Caught InputError")):
                raise
        # raised outside the handler, so the new error holds no reference to the old one
        raise InputError(lines[-1].split("InputError: ", 1)[-1]) from None

    def __enter__(self) -> EpochBatches[Batch]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the loader's worker processes now (a loader without workers has none)."""
        shutdown = getattr(self._iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def leave_stops_to_the_trainer(worker_id: int) -> None:
    """A loader worker ignores SIGTERM, SIGINT and SIGHUP; the training process handles them.

    A stop sent to the whole process group (the GUI's Cancel, Ctrl-C in a terminal, a
    scheduler's SIGTERM, a closed terminal's SIGHUP) reaches the workers too. Killed by it, a
    worker makes torch raise "DataLoader worker ... is killed by signal" in the training
    process, a traceback and exit 1 in place of a clean stop. Ignoring it, the worker is shut
    down by the training process as that unwinds (or ends by itself when its parent dies).
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def worker_start_context() -> Any:
    """How loader workers start: forked on Linux, the platform's default elsewhere.

    Our multi-GPU launcher starts each training process with "spawn", and spawned processes
    hand that method on to their own children, so every epoch's loader workers re-imported
    torch and isonet2: on 2 CPU cores the first batch of an epoch took 2.2 s instead of
    0.03 s, and 2 CPU workers waited for data 17-18 % of each epoch. Forked workers copy the
    training process and touch no GPU; a one-GPU run's workers were forked all along.
    macOS keeps its default (spawn), since forking there is unsafe with system frameworks.
    """
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return None
