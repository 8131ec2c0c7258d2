"""Forms come from the config models: same defaults, help and choices; the line round-trips."""

from __future__ import annotations

import pytest
from pydantic_core import to_jsonable_python

from isonet2.config import COMMANDS
from isonet2.config.argv import choices, help_text, parse_command_line
from isonet2.gui import forms


@pytest.mark.parametrize("name", forms.offered_commands())
def test_each_form_is_its_config_model(name: str) -> None:
    model = COMMANDS[name]
    schema = forms.command_schema(model)
    assert schema["summary"] == model.summary()
    page = help_text(model)
    assert [field["name"] for field in schema["fields"]] == list(model.model_fields)
    for field in schema["fields"]:
        info = model.model_fields[field["name"]]
        assert field["help"] == info.description and field["flag"] in page
        if not field["required"]:
            assert field["default"] == to_jsonable_python(info.default)
        assert (field["choices"] or []) == list(choices(info))
        if field["shown_default"]:  # what help prints as the default, e.g. refine's mw_weight
            assert f"(default: {field['shown_default']}" in " ".join(page.split())


def test_tutorial_order_and_not_offered() -> None:
    order = forms.offered_commands()
    assert order[:6] == ["prepare_star", "deconv", "make_mask", "denoise", "refine", "predict"]
    assert "gui" not in order and "demo" not in order
    with pytest.raises(forms.FormError) as caught:
        forms.form_config("gui", {}, None)
    assert "__all__" in caught.value.errors


@pytest.mark.parametrize(
    ("command", "values"),
    [
        (
            "prepare_star",
            {"even": "t/EVN", "odd": "t/ODD", "defocus": [39057, 14817], "create_average": True},
        ),
        ("prepare_star", {"full": "tomos dir", "tilt_min": -45, "pixel_size": "auto"}),
        (
            "refine",
            {
                "epochs": 3,
                "cube_size": 64,
                "arch": "unet-small",
                "noise_level": "0.1,0.2",
                "noise_start_iter": "0,1",
                "gpuID": "0,1",
            },
        ),
        (
            "refine",
            {
                "star_file": "other.star",
                "with_preview": False,
                "batch_size": "auto",
                "prev_tomo_idx": "1,3-4",
            },
        ),
        ("predict", {"model": "refine/job3/net.pt", "tomo_idx": 2}),
        ("simulate", {"shape": [64, 64, 96], "tilt_min": -50.5, "seed": 3}),
    ],
)
def test_the_command_line_parses_back_to_the_same_config(command: str, values: dict) -> None:
    cfg = forms.form_config(command, values, output_dir=f"{command}/job7")
    words = forms.command_words(cfg)
    assert words[0] == command
    assert parse_command_line(type(cfg), words[1:]) == cfg
    if "output_dir" in type(cfg).model_fields:
        assert cfg.output_dir == f"{command}/job7"  # type: ignore[attr-defined]


def test_blank_means_default_and_errors_are_keyed_by_field() -> None:
    cfg = forms.form_config(
        "refine", {"epochs": "", "arch": None, "cube_size": "48"}, "refine/job1"
    )
    assert cfg.epochs == 50 and cfg.arch == "unet-medium" and cfg.cube_size == 48  # type: ignore[attr-defined]
    with pytest.raises(forms.FormError) as caught:
        forms.form_config("refine", {"cube_size": 40, "epochs": 0, "bogus": 1}, "refine/job1")
    assert caught.value.errors == {"bogus": "refine has no parameter bogus"}
    with pytest.raises(forms.FormError) as caught:
        forms.form_config("refine", {"cube_size": 40, "epochs": 0}, "refine/job1")
    assert caught.value.errors["cube_size"].endswith(
        "is not a multiple of 16 (the U-Net halves it 4 times)"
    )
    assert "greater than or equal to 1" in caught.value.errors["epochs"]
    with pytest.raises(forms.FormError) as caught:
        forms.form_config("predict", {}, "predict/job1")
    assert caught.value.errors == {"model": "required"}
    with pytest.raises(forms.FormError) as caught:
        forms.form_config("simulate", {"tilt_min": 10, "tilt_max": 0}, "simulate/job1")
    assert "must be below" in caught.value.errors["__all__"]


def test_the_line_uses_the_tutorials_spelling() -> None:
    cfg = forms.form_config("prepare_star", {"even": "EVN", "odd": "ODD", "pixel_size": 5.4}, None)
    assert forms.command_line(forms.command_words(cfg)) == (
        "isonet.py prepare_star -e EVN -o ODD --pixel_size 5.4"
    )
    cfg = forms.form_config(
        "refine", {"prev_tomo_idx": "2", "star_file": "my tomos.star"}, "refine/job2"
    )
    assert forms.command_line(forms.command_words(cfg)) == (
        "isonet.py refine 'my tomos.star' -o refine/job2 --prev_tomo_idx 2"
    )


def test_every_text_field_is_known_as_a_path_or_not() -> None:
    """Job values in PATH_FIELDS must stay inside the project; a new file or folder option
    has to be added there (or here, if it names no file), or a job could write outside."""
    from isonet2.config import COMMANDS
    from isonet2.gui.api import PATH_FIELDS
    from isonet2.gui.forms import offered_commands

    not_paths = {
        "output_dir", "output_prefix", "tomo_idx", "prev_tomo_idx", "input_column", "column",
        "reference_column", "gpuID",
    }  # fmt: skip
    for command in offered_commands():
        for name, info in COMMANDS[command].model_fields.items():
            annotation = str(info.annotation)
            if "str" in annotation and "Literal" not in annotation:
                assert (name in PATH_FIELDS) != (name in not_paths), (command, name)
