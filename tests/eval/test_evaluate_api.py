"""`rwsr.eval.evaluate.evaluate`, the Python form of `rwsr evaluate`, called directly on the
real City100 crops: what it scores and returns, and the arguments it refuses before any
output (test_evaluate.py checks the same through the command line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from skimage.metrics import peak_signal_noise_ratio

from rwsr.data.imresize import imresize
from rwsr.errors import ConfigError
from rwsr.eval.evaluate import evaluate
from rwsr.imageio import read_image
from rwsr.models.checkpoint import load_model
from rwsr.upscale.engine import Upscaler


def psnr_rgb(sr_path: Path, hr_path: Path, border: int) -> float:
    crop = (slice(border, -border), slice(border, -border))
    sr, hr = read_image(sr_path)[crop], read_image(hr_path)[crop]
    return float(peak_signal_noise_ratio(hr, sr, data_range=255))


def test_folders_at_x1_score_the_lr_baseline_and_list_a_missing_image(
    x1_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = evaluate(
        out,
        hr=x1_set / "hr",
        lr=x1_set / "lr",
        scale=1,
        sr={"smooth": x1_set / "smooth"}.items(),
        metrics=("psnr",),
        channels=("rgb",),
        figure_images=1,
        progress=False,
    )
    evaluation = report.evaluation
    assert not report.complete  # smooth has no 064: listed, the rest scored
    assert evaluation.methods == ["LR (input)", "smooth"] and evaluation.baseline == "LR (input)"
    assert [(p.image, p.method) for p in evaluation.problems] == [("064", "smooth")]
    assert evaluation.settings.crop_border == 1
    for score in evaluation.scores:
        folder, suffix = ("lr", "") if score.method == "LR (input)" else ("smooth", "_x1")
        expected = psnr_rgb(
            x1_set / folder / f"{score.image}{suffix}.png",
            x1_set / "hr" / f"{score.image}.png",
            border=1,
        )
        assert score.values["psnr_rgb"] == pytest.approx(expected, abs=2e-8)
    assert len(evaluation.scores) == 5
    assert report.summary == (out / "summary.md").read_text(encoding="utf-8")
    assert "| smooth | 2 of 3 |" in report.summary
    assert [path.name for path in report.files] == [
        "scores.csv", "summary.md", "summary.json", "crops_021.png", "report.html",
    ]  # fmt: skip


def test_limit_keeps_the_first_images_and_their_problems_only(x1_set: Path, tmp_path: Path) -> None:
    report = evaluate(
        tmp_path / "out",
        hr=x1_set / "hr",
        lr=x1_set / "lr",
        scale=1,
        sr=[("smooth", x1_set / "smooth")],
        metrics=("psnr",),
        limit=2,
        figure_images=0,
        progress=False,
    )
    assert report.evaluation.samples == ["021", "033"] and report.complete


def test_a_model_on_a_data_set_next_to_the_bicubic_baseline(x4_set: Path, tmp_path: Path) -> None:
    model = x4_set / "tiny.safetensors"
    report = evaluate(
        tmp_path / "out",
        dataset="paired",
        root=x4_set,
        models=[str(model)],
        metrics=("psnr",),
        channels=("rgb",),
        device="cpu",
        precision="fp32",
        figure_images=0,
        progress=False,
    )
    assert report.complete and report.evaluation.methods == ["Bicubic", "tiny"]
    assert report.evaluation.settings.scale == 4  # the data set's, and the border crop with it
    upscaler = Upscaler(load_model(model).model, device="cpu", precision="fp32")
    for score in report.evaluation.scores:
        hr = read_image(x4_set / "HR" / f"{score.image}.png")[4:-4, 4:-4]
        lr = read_image(x4_set / "LR" / f"{score.image}.png")
        sr = imresize(lr, 4.0) if score.method == "Bicubic" else upscaler.upscale(lr)
        expected = peak_signal_noise_ratio(hr, sr[4:-4, 4:-4], data_range=255)
        assert score.values["psnr_rgb"] == pytest.approx(expected, abs=2e-8)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "either --hr DIR"),
        ({"hr": "{hr}", "dataset": "paired", "root": "{hr}"}, "either --hr DIR"),
        ({"dataset": "paired"}, "--dataset needs --root"),
        ({"dataset": "paired", "root": "{hr}", "lr": "{lr}"}, "--lr is taken from --dataset"),
        ({"hr": "{hr}", "sr": [("a", "{hr}"), ("a", "{lr}")]}, "but got a, a"),
        ({"hr": "{hr}", "lr": "{lr}", "sr": [("LR (input)", "{lr}")]}, "names must differ"),
        ({"hr": "{hr}", "baseline": "none"}, "nothing to evaluate"),
        ({"hr": "{hr}"}, "nothing to evaluate"),  # no LR images, so no automatic baseline
        ({"hr": "{hr}", "baseline": "identity"}, "--baseline identity needs the LR images"),
        ({"hr": "{hr}", "lr": "{lr}", "baseline": "median"}, "--baseline must be one of"),
        ({"hr": "{hr}", "lr": "{lr}", "metrics": ("psnr", "fid")}, "--metrics"),
        ({"hr": "{hr}", "lr": "{lr}", "limit": 0}, "--limit must be at least 1, but got 0"),
        ({"hr": "{hr}", "lr": "{lr}", "models": ["{model}"]}, "upscales x4, but the test set"),
    ],
)
def test_bad_arguments_raise_before_any_output(
    x1_set: Path, x4_set: Path, tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    where = {
        "{hr}": x1_set / "hr",
        "{lr}": x1_set / "lr",
        "{model}": str(x4_set / "tiny.safetensors"),
    }

    def filled(value: object) -> object:
        if isinstance(value, (list, tuple)):
            return type(value)(filled(item) for item in value)
        return where.get(value, value) if isinstance(value, str) else value

    out = tmp_path / "out"
    arguments = {key: filled(value) for key, value in arguments.items()}
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate(out, scale=1, device="cpu", progress=False, **arguments)  # type: ignore[arg-type]
    assert not out.exists()
