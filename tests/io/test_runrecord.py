"""The run record holds every parameter, defaults included, and where the command ran."""

import json
from pathlib import Path

import pytest

from isonet2.config import RefineConfig
from isonet2.io.runrecord import write_run_config


def test_the_record_keeps_defaults_and_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = RefineConfig(star_file="t.star", epochs=3)
    record = json.loads(write_run_config(cfg, tmp_path / "rec" / "refine_config.json").read_text())
    assert record["command"] == "refine"
    assert record["parameters"]["epochs"] == 3
    # never given: still recorded, so a result can be traced without knowing old defaults
    assert record["parameters"]["learning_rate"] == RefineConfig().learning_rate
    assert "cube_size" in record["parameters"] and "seed" in record["parameters"]
    assert Path(record["cwd"]) == tmp_path  # relative paths in the record are read from here
