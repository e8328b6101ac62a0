"""Noise sampling on one set of images: statistics -> CATI -> noise bank + report.

This is the single-set half of NGDC (rwsr.data.ngdc.auxiliary applies a CATI found on one set to
another). Conventions: see rwsr.data.ngdc.patches and rwsr.data.ngdc.cati.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwsr.data.datasets import load_pairs
from rwsr.data.folders import list_images
from rwsr.data.manifest import BANK_FILES, check_inputs_outside, clear_earlier_run
from rwsr.data.ngdc.bank import BankSelection, write_bank
from rwsr.data.ngdc.cati import Cati, NoiseSamplingConfig, compute_cati
from rwsr.data.ngdc.report import ImageRecord, write_report
from rwsr.data.ngdc.scan import SetScan, scan_set
from rwsr.data.parallel import WorkerPool
from rwsr.errors import ConfigError


def select_windows(
    scan: SetScan,
    cati: Cati,
    *,
    role: str,
    exclude_clipped: bool,
    min_in_cati: int = 1,
) -> tuple[list[ImageRecord], list[BankSelection]]:
    """Per image: which windows lie in the CATI, and whether the image is kept.

    An image is kept when at least `min_in_cati` of its (unclipped) windows are in the CATI.
    """
    records: list[ImageRecord] = []
    selections: list[BankSelection] = []
    for image in scan.images:
        if image.stats is None:  # unreadable (failed) or smaller than one window (dropped)
            status = "dropped" if image.width else "failed"
            records.append(ImageRecord(str(image.path), role, status, image.error or "unknown"))
            continue
        stats = image.stats
        usable = ~stats.clipped if exclude_clipped else np.ones_like(stats.clipped)
        inside = cati.contains(stats.variance, stats.mean) & usable
        count = int(inside.sum())
        if count >= min_in_cati:
            status, reason = "kept", ""
            selections.append(
                BankSelection(
                    image.path,
                    role,
                    image.dtype,
                    stats.y[inside],
                    stats.x[inside],
                    stats.mean[inside],
                    stats.variance[inside],
                )
            )
        else:
            status = "dropped"
            reason = _why_dropped(stats.variance[usable], cati, count, min_in_cati)
        records.append(
            ImageRecord(str(image.path), role, status, reason, len(stats), int(usable.sum()), count)
        )
    return records, selections


def _why_dropped(variance: np.ndarray, cati: Cati, count: int, minimum: int) -> str:
    """Where the image's windows fall relative to the CATI, for the report."""
    if variance.size == 0:
        return "every window clipped"
    if count:
        return f"only {count} window(s) in the CATI, {minimum} required"
    below = int((variance < cati.variance[0]).sum())
    above = int((variance > cati.variance[1]).sum())
    between = variance.size - below - above
    if below == variance.size:
        return f"cleaner than the CATI: all {below} windows have variance < {cati.variance[0]:.3f}"
    if above == variance.size:
        return f"noisier than the CATI: all {above} windows have variance > {cati.variance[1]:.3f}"
    return (
        f"no window in the CATI: {below} cleaner, {above} noisier or textured, {between} with "
        "matching variance but a mean outside the interval"
    )


@dataclass(frozen=True)
class CollectResult:
    cati: Cati
    patches: int
    records: list[ImageRecord]


def collect_noise(
    source_dir: str | Path,
    out_dir: str | Path,
    *,
    config: NoiseSamplingConfig | None = None,
    workers: int = 1,
    overwrite: bool = False,
    export_png: bool = False,
    progress: bool = True,
    layout: str | None = None,
    split: str | None = None,
) -> CollectResult:
    """Scan `source_dir`, find its CATI, bank every in-CATI window, write the report.

    `layout` (a rwsr.data.datasets layout, e.g. city100 or realsr; `split` its split) reads
    `source_dir` as a set of real pairs and scans their LR images, the noisy side.

    With `overwrite`, what an earlier collection wrote in `out_dir` (patches.npy, index.json,
    png/, report.*) is removed first, so no stale PNG or report outlives it.
    """
    start = time.perf_counter()
    config = config or NoiseSamplingConfig()
    out_dir = Path(out_dir)
    if layout is None:
        paths = list_images(source_dir, what="source folder")
    else:
        pairs = load_pairs(source_dir, layout=layout, split=split, check=False)
        paths = [pair.lr for pair in pairs if pair.lr is not None]
        if not paths:
            raise ConfigError(f"{source_dir}: layout {layout} has no LR images to scan")
    check_inputs_outside(out_dir, owned=BANK_FILES, inputs=[Path(source_dir), *paths])
    if overwrite:
        clear_earlier_run(out_dir, BANK_FILES)
    with WorkerPool(workers) as pool:
        scan = scan_set(paths, patch=config.patch, workers=pool, progress=progress, label="sources")
        variance, mean = scan.candidates(exclude_clipped=config.exclude_clipped)
        cati = compute_cati(variance, mean, config=config)
        records, selections = select_windows(
            scan, cati, role="source", exclude_clipped=config.exclude_clipped
        )
        count = write_bank(
            out_dir,
            selections,
            cati=cati,
            patch=config.patch,
            workers=pool,
            overwrite=overwrite,
            export_png=export_png,
            progress=progress,
        )
    seconds = time.perf_counter() - start
    write_report(
        out_dir,
        title=f"Noise bank of {Path(source_dir).name}",
        settings={
            "source": str(source_dir),
            "layout": layout or "folder of images",
            "split": split,
            **config.model_dump(),
            "workers": workers,
        },
        cati=cati,
        records=records,
        variances={"source": variance},
        seconds=seconds,
        megapixels=scan.megapixels,
        totals={"patches in bank": count, "windows considered": int(variance.size)},
        overwrite=overwrite,
    )
    return CollectResult(cati, count, records)
