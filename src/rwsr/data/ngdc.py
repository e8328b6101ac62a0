"""Noise-guided data collection (NGDC, paper Sec. III-E, Algorithm 1).

1. Scan the target set D_a (the domain to super-resolve) and find its CATI.
2. Apply the same CATI to the auxiliary set D_b: an auxiliary image with at least
   `min_in_cati` windows inside the CATI carries the target's kind of noise and is kept;
   cleaner and much noisier images are dropped.
3. Training pairs (Eq. 9-10) from every target image and every kept auxiliary image
   (written as aux_<name>.png), all in OUT/HR and OUT/LR.
4. The in-CATI windows of both sets form one noise bank in OUT/bank; OUT/report.* says what
   was kept, dropped and why.

Rerunning on the same OUT with the same settings resumes: finished pairs are skipped and the
bank and report are recomputed to the same content.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rwsr.data.cati import Cati, NoiseSamplingConfig, compute_cati
from rwsr.data.folders import list_images
from rwsr.data.manifest import claim_output
from rwsr.data.noise_bank import write_bank
from rwsr.data.noise_collect import select_windows
from rwsr.data.noise_report import ImageRecord, write_report
from rwsr.data.pairs import PairsConfig, PairsSummary, generate_pairs, jobs_for
from rwsr.data.parallel import WorkerPool
from rwsr.data.scan import scan_set

AUX_PREFIX = "aux_"


class NgdcConfig(BaseModel):
    """NGDC settings; defaults follow the paper (2%, 256 px windows, x4, clean-up 2)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sampling: NoiseSamplingConfig = NoiseSamplingConfig()
    pairs: PairsConfig = PairsConfig()
    aux_cleanup: int | None = Field(
        None, ge=1, le=8, description="clean-up of auxiliary images; None = same as the target"
    )
    min_in_cati: int = Field(1, ge=1, description="in-CATI windows an auxiliary image needs")


@dataclass(frozen=True)
class NgdcResult:
    cati: Cati
    records: list[ImageRecord]
    pairs: PairsSummary
    bank_patches: int
    resumed: bool

    @property
    def ok(self) -> bool:
        return self.pairs.ok and not any(r.status == "failed" for r in self.records)


def run_ngdc(
    target_dir: str | Path,
    aux_dir: str | Path,
    out_dir: str | Path,
    *,
    config: NgdcConfig | None = None,
    workers: int = 1,
    overwrite: bool = False,
    export_png: bool = False,
    progress: bool = True,
) -> NgdcResult:
    """Algorithm 1 end to end; see the module docstring for the output layout."""
    start = time.perf_counter()
    config = config or NgdcConfig()
    out_dir = Path(out_dir)
    sampling = config.sampling
    target_paths = list_images(target_dir, what="target folder")
    aux_paths = list_images(aux_dir, what="auxiliary folder")
    settings = {
        "target": str(Path(target_dir).resolve()),
        "aux": str(Path(aux_dir).resolve()),
        **config.model_dump(),
        "export_png": export_png,
    }
    resumed = claim_output(out_dir, command="ngdc", settings=settings, overwrite=overwrite)
    rewrite = overwrite or resumed
    with WorkerPool(workers) as pool:
        scan = functools.partial(scan_set, patch=sampling.patch, workers=pool, progress=progress)
        target = scan(target_paths, label="target")
        variance, mean = target.candidates(exclude_clipped=sampling.exclude_clipped)
        cati = compute_cati(variance, mean, config=sampling)
        aux = scan(aux_paths, label="aux")
        scanned = time.perf_counter()
        target_records, target_windows = select_windows(
            target, cati, role="target", exclude_clipped=sampling.exclude_clipped, min_in_cati=0
        )
        aux_records, aux_windows = select_windows(
            aux,
            cati,
            role="aux",
            exclude_clipped=sampling.exclude_clipped,
            min_in_cati=config.min_in_cati,
        )
        # Every decodable target image is a training image, even one too small for a window.
        paired_targets = [image.path for image in target.images if image.width > 0]
        target_records = [
            replace(r, status="kept", reason=f"paired, no windows: {r.reason}")
            if r.status == "dropped"
            else r
            for r in target_records
        ]
        kept_aux = [selection.source for selection in aux_windows]
        aux_pairs = config.pairs.model_copy(
            update={"cleanup": config.aux_cleanup or config.pairs.cleanup}
        )
        make_pairs = functools.partial(
            generate_pairs, out_dir=out_dir, workers=pool, overwrite=overwrite, progress=progress
        )
        summary = make_pairs(jobs_for(paired_targets), config=config.pairs)
        aux_summary = make_pairs(jobs_for(kept_aux, prefix=AUX_PREFIX), config=aux_pairs)
        summary.written += aux_summary.written
        summary.skipped += aux_summary.skipped
        summary.failed += aux_summary.failed
        paired = time.perf_counter()
        patches = write_bank(
            out_dir / "bank",
            target_windows + aux_windows,
            cati=cati,
            patch=sampling.patch,
            workers=pool,
            overwrite=rewrite,
            export_png=export_png,
            progress=progress,
        )
    records = target_records + aux_records
    end = time.perf_counter()
    write_report(
        out_dir,
        title=f"NGDC: target {Path(target_dir).name}, auxiliary {Path(aux_dir).name}",
        settings={**settings, "workers": workers},
        cati=cati,
        records=records,
        variances={
            "target": variance,
            "aux": aux.candidates(exclude_clipped=sampling.exclude_clipped)[0],
        },
        seconds=end - start,
        megapixels=target.megapixels + aux.megapixels,
        totals={
            "pairs": summary.line(),
            "bank patches": patches,
            "bank patches from target": sum(int(w.y.size) for w in target_windows),
            "bank patches from aux": sum(int(w.y.size) for w in aux_windows),
        },
        overwrite=rewrite,
        phases={
            "scanning (decode + statistics)": scanned - start,
            "making pairs": paired - scanned,
            "writing the bank": end - paired,
        },
    )
    return NgdcResult(cati, records, summary, patches, resumed)
