"""predict.inputs.tile_filters_for: prediction tiles get the training inputs' wedge — the row's own
(asymmetric) tilt range, same handedness — and none for "n2n" models (trained without one)."""

import torch

from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.io.star import TomogramRow
from isonet2.predict.inputs import tile_filters_for

ROW = TomogramRow(index=1, tilt_min_deg=-35.0, tilt_max_deg=68.0)


def filters(method: str):
    return tile_filters_for(
        ROW,
        {"method": method, "ctf_mode": "None"},
        cube=16,
        device=torch.device("cpu"),
        apply_mw_x1=True,
        is_ctf_flipped=False,
        do_phaseflip_input=True,
    )


def test_wedge_follows_the_rows_tilt_range_with_training_handedness() -> None:
    for method in ("isonet2", "isonet2-n2n"):
        wedge = filters(method).wedge
        assert wedge is not None and wedge.shape == (16, 16, 9)
        assert torch.equal(wedge, missing_wedge_mask((16, 16, 16), -35.0, 68.0, rfft=True))
        # an asymmetric range is not its own mirror: the handedness is pinned
        assert not torch.equal(wedge, missing_wedge_mask((16, 16, 16), -68.0, 35.0, rfft=True))


def test_n2n_models_get_no_wedge_filter() -> None:
    assert filters("n2n").wedge is None
