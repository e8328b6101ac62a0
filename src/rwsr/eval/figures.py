"""Figures of an evaluation as PNG bytes (matplotlib's object API, no global pyplot state).

- Crops (like the paper's Figs. 5-10): the same region of one test image for HR and every
  method side by side, with each method's scores on the whole image (regions.detail_box).
- Gains (like Fig. 1): PSNR gain against LPIPS gain over the baseline, per image (small
  points) and on average (large markers); up and right is better.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from rwsr.eval.regions import Box


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _display(image: np.ndarray) -> np.ndarray:
    """uint8 RGB for display (uint16 reduced to 8 bits)."""
    if image.dtype == np.uint16:
        return (image // 257).astype(np.uint8)
    return image


def crops_figure(
    title: str,
    hr_full: np.ndarray,
    box: Box,
    crops: Mapping[str, np.ndarray],
    captions: Mapping[str, str],
) -> bytes:
    """HR with the region marked, then the region for each entry of `crops` (HR first)."""
    panels = len(crops) + 1
    columns = min(panels, 5)
    rows = -(-panels // columns)
    figure = Figure(figsize=(3.0 * columns, 3.3 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    axes[0].imshow(_display(hr_full))
    axes[0].add_patch(
        Rectangle((box.x, box.y), box.size, box.size, fill=False, edgecolor="red", linewidth=1.5)
    )
    axes[0].set_title(title, fontsize=9)
    for axis, (name, crop) in zip(axes[1:], crops.items()):
        axis.imshow(_display(crop), interpolation="nearest")
        caption = captions.get(name, "")
        axis.set_title(f"{name}\n{caption}" if caption else name, fontsize=8)
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in axes[panels:]:
        axis.set_visible(False)
    return _png(figure)


def gains_figure(
    baseline: str,
    psnr_label: str,
    gains: Mapping[str, tuple[Sequence[float], Sequence[float]]],
) -> bytes:
    """Scatter of (PSNR gain in dB, LPIPS gain) over `baseline` for each method.

    `gains[method]` holds per-image PSNR gains and LPIPS gains (baseline LPIPS - method
    LPIPS, so positive is better), in the same image order.
    """
    figure = Figure(figsize=(6.4, 4.8))
    axis = figure.subplots()
    colours = [f"C{i % 10}" for i in range(len(gains))]
    for colour, (method, (psnr_gain, lpips_gain)) in zip(colours, gains.items()):
        axis.scatter(psnr_gain, lpips_gain, s=12, alpha=0.35, color=colour)
        mean_x, mean_y = float(np.mean(psnr_gain)), float(np.mean(lpips_gain))
        axis.scatter(
            [mean_x], [mean_y], s=120, color=colour, edgecolor="black", label=method, zorder=3
        )
        axis.annotate(
            method, (mean_x, mean_y), textcoords="offset points", xytext=(6, 6), fontsize=8
        )
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_xlabel(f"{psnr_label} gain over {baseline} (dB)  →  better")
    axis.set_ylabel(f"LPIPS gain over {baseline}  →  better")
    axis.set_title("Distortion vs perception gains (small points: images; large: mean)", fontsize=9)
    axis.legend(fontsize=8, loc="best")
    return _png(figure)
