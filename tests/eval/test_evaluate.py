"""`rwsr evaluate` end to end on real City100 crops: every number in the reports is checked
against an independent computation (scikit-image for PSNR/SSIM, the metric modules for LPIPS
and NIQE), and missing or mismatched files are listed without stopping the others."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.data.imresize import imresize
from rwsr.imageio import read_image, write_image
from rwsr.metrics.lpips import LPIPS
from rwsr.metrics.niqe import niqe
from rwsr.models.checkpoint import load_model
from rwsr.upscale.engine import Upscaler


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["evaluate", *args, "--quiet"])
    return result.exit_code, result.output


def reference_scores(sr: np.ndarray, hr: np.ndarray, border: int) -> dict[str, float]:
    """PSNR/SSIM by scikit-image on the cropped arrays (Y from its own BT.601 rgb2ycbcr)."""
    crop = (slice(border, -border), slice(border, -border))
    s, h = sr[crop].astype(np.float64), hr[crop].astype(np.float64)
    ys, yh = rgb2ycbcr(sr[crop])[..., 0], rgb2ycbcr(hr[crop])[..., 0]

    def ssim(a: np.ndarray, b: np.ndarray, axis: int | None) -> float:
        return structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=255, channel_axis=axis,
        )  # fmt: skip

    return {
        "psnr_rgb": peak_signal_noise_ratio(h, s, data_range=255),
        "psnr_y": peak_signal_noise_ratio(yh, ys, data_range=255),
        "ssim_rgb": ssim(s, h, -1),
        "ssim_y": ssim(ys, yh, None),
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_folders_x1_with_a_missing_image(x1_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run(
        "--hr", str(x1_set / "hr"), "--lr", str(x1_set / "lr"), "--scale", "1",
        "--sr", f"smooth={x1_set / 'smooth'}", "--lpips-backbone", "random",
        "--figure-images", "2", "-o", str(out),
    )  # fmt: skip
    assert code == 1, output  # smooth has no 064: reported, not fatal
    assert "1 image/method pair(s) not evaluated" in output

    rows = read_csv(out / "scores.csv")
    lpips = LPIPS(backbone="random")  # the same seeded random backbone the CLI asked for
    checked = 0
    for row in rows:
        if row["status"] != "ok":
            continue
        hr = read_image(x1_set / "hr" / f"{row['image']}.png")
        folder, suffix = ("lr", "") if row["method"] == "LR (input)" else ("smooth", "_x1")
        sr = read_image(x1_set / folder / f"{row['image']}{suffix}.png")
        for key, value in reference_scores(sr, hr, border=1).items():
            assert float(row[key]) == pytest.approx(value, abs=2e-8), (row, key)
        assert float(row["lpips"]) == pytest.approx(lpips(sr, hr, crop_border=1), rel=1e-6)
        assert float(row["niqe"]) == pytest.approx(niqe(sr, crop_border=1), abs=1e-8)
        checked += 1
    assert checked == 5
    reference = [r for r in rows if r["status"] == "reference"]
    assert len(reference) == 3 and all(float(r["niqe"]) > 0 for r in reference)
    missing = [r for r in rows if r["status"] == "not evaluated"]
    assert [(r["image"], r["method"]) for r in missing] == [("064", "smooth")]
    assert "smooth" in missing[0]["reason"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["images"] == 3
    assert summary["baseline"] == "LR (input)"
    by_method = {r["method"]: r for r in summary["rows"]}
    for method, expected_images in (("LR (input)", 3), ("smooth", 2)):
        row = by_method[method]
        assert row["images"] == expected_images
        values = [float(r["psnr_y"]) for r in rows if r["method"] == method and r["status"] == "ok"]
        assert row["means"]["psnr_y"] == pytest.approx(np.mean(values), abs=1e-8)
        assert row["best"] == []  # smooth lacks an image, so nobody is ranked against it
    assert by_method["HR (reference)"]["reference"] is True
    assert set(by_method["HR (reference)"]["means"]) == {"niqe"}
    assert summary["not_evaluated"][0]["image"] == "064"
    assert any("RANDOM BACKBONE" in line for line in summary["conventions"])

    markdown = (out / "summary.md").read_text()
    assert (
        "| Method | Images | PSNR (Y) ↑ | PSNR (RGB) ↑ | SSIM (Y) ↑ | SSIM (RGB) ↑ | LPIPS ↓ | NIQE ↓ |"
        in markdown
    )
    assert "| smooth | 2 of 3 |" in markdown
    assert "border crop 1 px" in markdown and "BT.601" in markdown
    assert "smooth / 064:" in markdown

    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["crops_021.png", "crops_033.png", "gains.png"]
    for name in figures:
        assert read_image(out / "figures" / name).shape[0] > 200
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "INCOMPLETE" in page and "064" in page and "<table>" in page


def test_existing_outputs_are_kept_without_overwrite(x1_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--hr", str(x1_set / "hr"), "--lr", str(x1_set / "lr"), "--scale", "1",
            "--metrics", "psnr", "--figure-images", "0", "-o", str(out)]  # fmt: skip
    assert run(*args)[0] == 0
    before = (out / "summary.md").stat().st_mtime_ns
    code, output = run(*args)
    assert code == 1 and "already holds" in output and "--overwrite" in output
    assert (out / "summary.md").stat().st_mtime_ns == before
    assert run(*args, "--overwrite")[0] == 0


def test_size_mismatch_is_listed_and_the_rest_evaluated(x1_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _ = run(
        "--hr", str(x1_set / "hr"), "--sr", f"bad={x1_set / 'bad'}", "--scale", "1",
        "--baseline", "none", "--metrics", "psnr,ssim", "--figure-images", "0", "-o", str(out),
    )  # fmt: skip
    assert code == 1
    rows = read_csv(out / "scores.csv")
    assert sorted(r["image"] for r in rows if r["status"] == "ok") == ["033", "064"]
    (problem,) = [r for r in rows if r["status"] == "not evaluated"]
    assert problem["image"] == "021" and "SR is 292x188 but HR is 292x196" in problem["reason"]


def test_bit_depth_and_identical_images(x1_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run(
        "--hr", str(x1_set / "hr"), "--lr", str(x1_set / "lr"), "--scale", "1",
        "--sr", f"16-bit={x1_set / 'sixteen'}", "--sr", f"HR copy={x1_set / 'hr'}",
        "--metrics", "psnr,ssim", "--figure-images", "0", "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    means = {
        r["method"]: r["means"] for r in json.loads((out / "summary.json").read_text())["rows"]
    }
    # A 16-bit copy of the LR images scores exactly as the 8-bit LR images themselves.
    for key, value in means["LR (input)"].items():
        assert means["16-bit"][key] == pytest.approx(value, abs=1e-9)
    # Identical images: infinite PSNR, written as "inf" (JSON has no infinity), SSIM 1.
    assert means["HR copy"]["psnr_y"] == "inf" and means["HR copy"]["ssim_rgb"] == 1.0
    assert (
        "| HR copy | 3 | **inf** | **inf** | **1.0000** | **1.0000** |"
        in (out / "summary.md").read_text()
    )


def test_dataset_with_a_model_and_the_bicubic_baseline(x4_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    model = x4_set / "tiny.safetensors"
    code, output = run(
        "--dataset", "paired", "--root", str(x4_set), "--model", str(model),
        "--metrics", "psnr,ssim", "--device", "cpu", "--precision", "fp32", "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    upscaler = Upscaler(load_model(model).model, device="cpu", precision="fp32")
    rows = read_csv(out / "scores.csv")
    assert {r["method"] for r in rows} == {"Bicubic", "tiny"}
    for row in rows:
        hr = read_image(x4_set / "HR" / f"{row['image']}.png")
        lr = read_image(x4_set / "LR" / f"{row['image']}.png")
        sr = imresize(lr, 4.0) if row["method"] == "Bicubic" else upscaler.upscale(lr)
        for key, value in reference_scores(sr, hr, border=4).items():
            assert float(row[key]) == pytest.approx(value, abs=2e-8), (row, key)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["settings"]["crop_border"] == 4
    means = {r["method"]: r["means"]["psnr_y"] for r in summary["rows"]}
    winner = max(means, key=means.__getitem__)
    markdown = (out / "summary.md").read_text()
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {winner} |"))
    assert re.search(rf"\*\*{means[winner]:.3f}\*\*", line)
    assert not (out / "figures" / "gains.png").exists()  # no LPIPS, so no gains figure
    assert len(list((out / "figures").glob("crops_*.png"))) == 3


def test_a_missing_lr_image_of_a_paired_set_is_listed(x4_set: Path, tmp_path: Path) -> None:
    root = tmp_path / "set"
    shutil.copytree(x4_set / "HR", root / "HR")
    shutil.copytree(x4_set / "LR", root / "LR")
    (root / "LR" / "033.png").unlink()
    out = tmp_path / "out"
    code, output = run(
        "--dataset", "paired", "--root", str(root), "--metrics", "psnr",
        "--figure-images", "0", "-o", str(out),
    )  # fmt: skip
    assert code == 1 and "not evaluated" in output
    rows = read_csv(out / "scores.csv")
    assert sorted(r["image"] for r in rows if r["status"] == "ok") == ["021", "064"]
    reasons = [r["reason"] for r in rows if r["status"] == "not evaluated"]
    assert any("no LR image" in reason for reason in reasons) and len(reasons) == 2
    assert all(r["image"] == "033" for r in rows if r["status"] == "not evaluated")


def test_named_dataset_lists_bad_pairs_and_evaluates_the_rest(x4_set: Path, tmp_path: Path) -> None:
    """RealSR layout: one LR image missing, one of the wrong size; the third is evaluated."""
    folder = tmp_path / "RealSR" / "Canon" / "Test" / "4"
    folder.mkdir(parents=True)
    for index, name in enumerate(("021", "033", "064"), start=1):
        shutil.copy(x4_set / "HR" / f"{name}.png", folder / f"Canon_{index:03d}_HR.png")
        if index != 2:
            shutil.copy(x4_set / "LR" / f"{name}.png", folder / f"Canon_{index:03d}_LR4.png")
    lr3 = read_image(folder / "Canon_003_LR4.png")
    write_image(folder / "Canon_003_LR4.png", np.ascontiguousarray(lr3[:, :-1]), overwrite=True)
    out = tmp_path / "out"
    code, output = run(
        "--dataset", "realsr", "--root", str(tmp_path / "RealSR"), "--metrics", "psnr",
        "--baseline", "bicubic", "--figure-images", "0", "-o", str(out),
    )  # fmt: skip
    assert code == 1, output
    rows = read_csv(out / "scores.csv")
    assert {r["image"] for r in rows if r["status"] == "ok"} == {"Canon_001"}
    reasons = {r["image"]: r["reason"] for r in rows if r["status"] == "not evaluated"}
    assert "no LR partner Canon_002_LR4.png" in reasons["Canon_002_HR"]
    assert "but HR" in reasons["Canon_003_LR4"]


def test_offline_lpips_is_a_clear_error_before_any_output(
    x1_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    out = tmp_path / "out"
    code, output = run("--hr", str(x1_set / "hr"), "--lr", str(x1_set / "lr"), "-o", str(out))
    assert code == 1 and "--lpips-backbone PATH" in output and "ImageNet AlexNet" in output
    assert "--metrics psnr,ssim,niqe" in output
    assert not out.exists()


def test_dataset_split_defaults_to_test(city100_crops: Path, tmp_path: Path) -> None:
    # The City100 crops hold pairs of the training split only (021-100).
    code, output = run("--dataset", "city100", "--root", str(city100_crops), "-o", str(tmp_path))
    assert code == 1 and "no image pairs found (--dataset city100, split test)" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "either --hr DIR"),
        (("--dataset", "div9k", "--root", "."), "--dataset must be one of"),
        (("--hr", "{hr}", "--sr", "a={hr}", "--sr", "a={hr}"), "method names must differ"),
        (("--hr", "{hr}", "--metrics", "psnr,fid"), "unknown ['fid']"),
        (("--hr", "{hr}", "--baseline", "none"), "nothing to evaluate"),
        (
            (
                "--hr",
                "{hr}",
            ),
            "nothing to evaluate",
        ),  # no LR, so no automatic baseline
        (("--hr", "{hr}", "--baseline", "bicubic"), "needs the LR images"),
        (("--hr", "{hr}", "--lpips-net", "squeeze"), "--lpips-net: Input should be"),
    ],
)
def test_usage_errors(x1_set: Path, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    filled = [a.replace("{hr}", str(x1_set / "hr")) for a in args]
    code, output = run(*filled, "-o", str(tmp_path / "out"))
    assert code == 2 and message in output
    assert not (tmp_path / "out").exists()


def textured(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Smooth random texture (NIQE is finite on it), 8-bit."""
    noise = np.random.default_rng(seed).normal(128, 40, shape)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.5), 0, 255).astype(np.uint8)


def test_unusable_output_folder_is_refused_before_any_metric(
    tmp_path: Path, unusable_output: tuple[Path, str]
) -> None:
    out, problem = unusable_output
    image = textured(0, (96, 96, 3))
    write_image(tmp_path / "hr" / "a.png", image)
    write_image(tmp_path / "sr" / "a.png", image)
    code, output = run(
        "--hr", str(tmp_path / "hr"), "--sr", f"m={tmp_path / 'sr'}", "--metrics", "psnr",
        "-o", str(out),
    )  # fmt: skip
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 1 and line.startswith(f"error: -o {out}: ") and problem in line
    assert "PSNR" not in output  # no summary: nothing was computed


def test_exif_rotated_hr_matches_its_upright_result(tmp_path: Path) -> None:
    """A JPEG HR stored 120x80 with orientation 6 is an 80x120 picture, like its result."""
    from PIL import Image

    from rwsr.eval.methods import folder_method
    from rwsr.eval.samples import samples_from_folders

    exif = Image.Exif()
    exif[0x0112] = 6
    hr = tmp_path / "hr" / "a.jpg"
    hr.parent.mkdir()
    Image.fromarray(textured(1, (80, 120, 3))).save(hr, exif=exif.tobytes(), quality=95)
    upright = read_image(hr)
    assert upright.shape == (120, 80, 3)
    write_image(tmp_path / "sr" / "a.png", upright)
    samples, _, _ = samples_from_folders(tmp_path / "hr", None)
    assert folder_method("m", tmp_path / "sr", samples).image(samples[0]).shape == upright.shape
    out = tmp_path / "out"
    code, output = run(
        "--hr", str(tmp_path / "hr"), "--sr", f"m={tmp_path / 'sr'}", "--metrics", "psnr",
        "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    (row,) = read_csv(out / "scores.csv")
    assert (row["status"], row["psnr_y"], row["reason"]) == ("ok", "inf", "")


def test_undefined_niqe_says_why_in_its_row(tmp_path: Path) -> None:
    from rwsr.metrics.niqe import UNDEFINED

    flat = np.full((200, 296, 3), (120, 80, 200), np.uint8)  # colour: no grayscale warning
    write_image(tmp_path / "hr" / "a.png", flat)
    write_image(tmp_path / "flat" / "a.png", flat)
    write_image(tmp_path / "textured" / "a.png", textured(2, flat.shape))
    out = tmp_path / "out"
    code, output = run(
        "--hr", str(tmp_path / "hr"), "--sr", f"flat={tmp_path / 'flat'}",
        "--sr", f"textured={tmp_path / 'textured'}", "--metrics", "psnr,niqe", "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    rows = {row["method"]: row for row in read_csv(out / "scores.csv")}
    assert UNDEFINED.startswith("NIQE undefined: the image is flat")
    assert (rows["flat"]["status"], rows["flat"]["niqe"], rows["flat"]["reason"]) == (
        "warning", "nan", UNDEFINED,
    )  # fmt: skip
    assert rows["HR (reference)"]["reason"] == UNDEFINED
    assert rows["textured"]["status"] == "ok" and rows["textured"]["reason"] == ""
    assert float(rows["textured"]["niqe"]) > 0
    assert f"a flat: {UNDEFINED}" in (out / "summary.md").read_text()


def test_grayscale_hr_against_a_colour_result_is_a_warning(tmp_path: Path) -> None:
    from rwsr.eval.runner import GRAY_HR

    gray = textured(3, (96, 96))
    write_image(tmp_path / "hr" / "a.png", gray)  # a one-channel file
    colour = np.stack([gray, np.roll(gray, 3, axis=1), 255 - gray], axis=2)
    write_image(tmp_path / "colour" / "a.png", colour)
    write_image(tmp_path / "gray" / "a.png", np.repeat(gray[:, :, None], 3, axis=2))
    out = tmp_path / "out"
    code, output = run(
        "--hr", str(tmp_path / "hr"), "--sr", f"colour={tmp_path / 'colour'}",
        "--sr", f"gray={tmp_path / 'gray'}", "--metrics", "psnr", "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    rows = {row["method"]: row for row in read_csv(out / "scores.csv")}
    assert (rows["colour"]["status"], rows["colour"]["reason"]) == ("warning", GRAY_HR)
    assert "grayscale" in GRAY_HR
    assert (rows["gray"]["status"], rows["gray"]["reason"]) == ("ok", "")
    assert f"a colour: {GRAY_HR}" in output  # summary.md, printed
