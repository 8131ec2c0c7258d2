"""How many loader workers a training process gets: --ncpus, fitted to the CPUs by default."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

import isonet2.pipeline.refine as refine
import isonet2.pipeline.training as training
from isonet2.config import DenoiseConfig, RefineConfig
from isonet2.config.argv import parse_command_line


@pytest.mark.parametrize(
    ("words", "processes", "cpus", "expected"),
    [
        ([], 1, 16, 4),  # a GPU node: the default of 4
        ([], 1, 2, 2),  # a 2-core laptop: one per core, not 4
        ([], 2, 6, 3),  # two processes share 6 CPUs
        ([], 4, 2, 0),  # fewer CPUs than processes: the training process loads its own cubes
        (["--ncpus", "8"], 1, 2, 8),  # typed: kept
        (["--ncpus", "0"], 1, 16, 0),
    ],
)
def test_the_default_fits_the_cpus_a_typed_value_is_kept(
    words: list[str], processes: int, cpus: int, expected: int
) -> None:
    cfg = parse_command_line(RefineConfig, ["t.star", *words])
    assert training.loader_workers(cfg, processes, cpus) == expected


def test_a_typed_value_above_the_cpus_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_command_line(DenoiseConfig, ["t.star", "--ncpus", "3"])
    with caplog.at_level(logging.INFO, logger="isonet2"):
        assert training.loader_workers(cfg, 2, 4) == 3
    assert [r.getMessage() for r in caplog.records] == [
        "--ncpus 3: 6 loader workers for 4 CPUs; training may slow down (leave --ncpus out to "
        "fit the workers to the CPUs)"
    ]


@pytest.mark.parametrize(("words", "expected"), [([], None), (["--ncpus", "7"], 7)])
def test_the_run_record_and_the_workers_get_the_fitted_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, words: list[str], expected: int | None
) -> None:
    """refine records in refine_config.json, and hands its workers, the count it uses."""
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(refine, "launch", lambda cfg, worker, devices: handed.append(cfg) or 0)
    monkeypatch.setattr(refine, "read_star", lambda path: None)  # no star: the method is given
    monkeypatch.setattr(refine, "resolve_method", lambda cfg, table: "isonet2-n2n")
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    out = tmp_path / "out"
    cfg = parse_command_line(RefineConfig, ["t.star", "-o", str(out), *words])
    refine.run(cfg)
    fitted = min(4, training.usable_cpus()) if expected is None else expected
    assert handed[0].ncpus == fitted
    assert json.loads((out / "refine_config.json").read_text())["parameters"]["ncpus"] == fitted


@pytest.mark.parametrize(("device", "expected"), [("cpu", 1), ("cuda", 4)])
def test_only_cpu_training_is_fitted(
    monkeypatch: pytest.MonkeyPatch, device: str, expected: int
) -> None:
    """On GPUs a training process mostly waits for its GPU: the default 4 stays."""
    monkeypatch.setattr(training, "usable_cpus", lambda: 1)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    cfg = parse_command_line(RefineConfig, ["t.star"])
    devices = [torch.device(device, 0) if device == "cuda" else torch.device("cpu")]
    assert training.fit_loader_workers(cfg, devices).ncpus == expected
