"""--gpuID words: which fail in one line before any worker starts."""

from __future__ import annotations

import pytest
import torch

from isonet2.cli import run
from isonet2.errors import InputError
from isonet2.train.devices import autocast_dtype, parse_gpu_ids


def test_gpu_ids_parse_as_lists_of_indices() -> None:
    assert parse_gpu_ids("0,1") == [0, 1]
    assert parse_gpu_ids("[2, 0]") == [2, 0]
    assert parse_gpu_ids(None) is None and parse_gpu_ids(" ") is None
    with pytest.raises(InputError, match="expected GPU numbers such as 0 or 0,1"):
        parse_gpu_ids("a")


@pytest.mark.parametrize("text", ["0,0", "0,1,0"])
def test_a_gpu_named_twice_is_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """On a GPU, two workers on one device ended in a dozen lines of NCCL errors."""
    with pytest.raises(InputError, match="GPU 0 is named twice; name each GPU once"):
        parse_gpu_ids(text)
    assert run(["refine", "missing.star", "--gpuID", text]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "named twice" in err and "Traceback" not in err, err


def test_mixed_precision_off_means_no_autocast_even_on_a_gpu() -> None:
    assert autocast_dtype(torch.device("cuda", 0), False) is None
    assert autocast_dtype(torch.device("cpu"), True) is None


@pytest.mark.parametrize(("bf16", "dtype"), [(True, torch.bfloat16), (False, torch.float16)])
def test_bf16_where_supported_else_fp16(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, dtype: torch.dtype
) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert autocast_dtype(torch.device("cuda", 0), True) == dtype
