"""Noise-guided data collection (NGDC, paper Sec. III-E, Algorithm 1), in two modes.

Source target (no `target_layout`; e.g. NTIRE 2020, whose training data is unpaired noisy
photos): Algorithm 1 as written.

1. Scan the target set D_a (the domain to super-resolve) and find its CATI.
2. Apply the same CATI to the auxiliary set D_b: an auxiliary image with at least
   `min_in_cati` windows inside the CATI carries the target's kind of noise and is kept;
   cleaner and much noisier images are dropped.
3. Training pairs (Eq. 9-10) from every target image and every kept auxiliary image
   (written as aux_<name>.png), all in OUT/HR and OUT/LR.
4. The in-CATI windows of both sets form one noise bank in OUT/bank; OUT/report.* says what
   was kept, dropped and why.

Real-pair target (`target_layout` = a layout of rwsr.data.datasets, e.g. RealSR or City100,
the paper's main setting): the target already has real LR/HR pairs, which must stay as they
are. The CATI comes from the target's LR images (the noisy side the model will see); the
target pairs are used in place, never copied or re-made, so OUT/HR and OUT/LR hold only the
aux_<name>.png pairs of kept auxiliary images, made at the target pairs' scale. The bank
holds the in-CATI windows of the target LR images and of the kept auxiliary images. The
auxiliary clean-up defaults to the paper's 2 here too (the target's own clean-up does not
apply, its HR images are real): the paper's auxiliary set is NTIRE 2020's noisy source
images, which Algorithm 1 cleans up (Eq. 9) before they become pairs.

Rerunning on the same OUT with the same settings resumes: finished pairs are skipped and the
bank and report are recomputed to the same content. Every pair name of a run is checked for
collisions before any work starts.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rwsr.data.datasets import ImagePair, load_pairs
from rwsr.data.folders import list_images
from rwsr.data.manifest import NGDC_OUTPUT, claim_output
from rwsr.data.ngdc.bank import write_bank
from rwsr.data.ngdc.cati import Cati, NoiseSamplingConfig, compute_cati
from rwsr.data.ngdc.collect import select_windows
from rwsr.data.ngdc.report import ImageRecord, write_report
from rwsr.data.ngdc.scan import scan_set
from rwsr.data.pairs import (
    PairJob,
    PairsConfig,
    PairsSummary,
    check_names,
    generate_pairs,
    jobs_for,
    pair_files,
)
from rwsr.data.parallel import WorkerPool
from rwsr.errors import ConfigError
from rwsr.outputs import check_output_dir

AUX_PREFIX = "aux_"
SOURCE_MODE = "source"
REAL_PAIR_MODE = "real-pair"


class NgdcConfig(BaseModel):
    """NGDC settings; defaults follow the paper (2%, 256 px windows, x4, clean-up 2).

    With a real-pair target, `pairs.scale` is the target layout's scale unless set, and
    `pairs.cleanup` must not be set (the target pairs are not re-made).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sampling: NoiseSamplingConfig = NoiseSamplingConfig()
    pairs: PairsConfig = PairsConfig()
    aux_cleanup: int | None = Field(
        None,
        ge=1,
        le=8,
        description=(
            "clean-up of auxiliary images; None = pairs.cleanup (2, the paper's: its"
            " auxiliary set is NTIRE 2020's noisy source images), with a real-pair target too"
        ),
    )
    min_in_cati: int = Field(1, ge=1, description="in-CATI windows an auxiliary image needs")


@dataclass(frozen=True)
class NgdcResult:
    cati: Cati
    records: list[ImageRecord]
    pairs: PairsSummary
    bank_patches: int
    resumed: bool
    mode: str = SOURCE_MODE
    target_pairs: list[ImagePair] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Why an image could not be read or a pair not be made; one message each."""
        failed = [record.reason for record in self.records if record.status == "failed"]
        return failed + [message for _, message in self.pairs.failed]

    @property
    def ok(self) -> bool:
        return not self.errors

    def line(self) -> str:
        """What was kept and written, in one line (`rwsr ngdc` prints it after OUT)."""
        kept = {
            role: sum(1 for r in self.records if r.role == role and r.status == "kept")
            for role in ("target", "aux")
        }
        total_aux = sum(1 for r in self.records if r.role == "aux")
        if self.mode == REAL_PAIR_MODE:
            targets = f"{len(self.target_pairs)} target pairs used in place (CATI from their LR)"
        else:
            targets = f"{kept['target']} target"
        return (
            f"{targets} and {kept['aux']} of {total_aux} auxiliary images kept; "
            f"{self.pairs.line()}; {self.bank_patches} bank patches"
            + (" (resumed)" if self.resumed else "")
        )


@dataclass(frozen=True)
class _Plan:
    """What one run reads and writes, decided before any work starts."""

    mode: str
    description: str  # for the report
    cati_images: list[Path]  # the target images the CATI comes from
    target_jobs: list[PairJob]  # pairs re-made from target images (source mode only)
    target_pairs: list[ImagePair]  # pairs used in place (real-pair mode only)
    target_config: PairsConfig
    aux_config: PairsConfig
    settings: dict[str, object]
    inputs: list[Path]  # folders the run reads
    effective: dict[str, object] = field(default_factory=dict)  # replaces config values


def _source_plan(target_dir: Path, config: NgdcConfig) -> _Plan:
    target_paths = list_images(target_dir, what="target folder")
    aux_config = config.pairs.model_copy(
        update={"cleanup": config.aux_cleanup or config.pairs.cleanup}
    )
    return _Plan(
        mode=SOURCE_MODE,
        description="source target: Algorithm 1 as written",
        cati_images=target_paths,
        target_jobs=jobs_for(target_paths),
        target_pairs=[],
        target_config=config.pairs,
        aux_config=aux_config,
        settings={"mode": SOURCE_MODE, "target": str(target_dir.resolve())},
        inputs=[target_dir],
    )


def _real_pair_plan(target_dir: Path, config: NgdcConfig, layout: str, split: str | None) -> _Plan:
    if "cleanup" in config.pairs.model_fields_set:
        raise ConfigError(
            "a real-pair target is used as it is, so its clean-up (--cleanup) does not apply; "
            "set the auxiliary images' clean-up with --aux-cleanup"
        )
    asked = config.pairs.scale if "scale" in config.pairs.model_fields_set else None
    pairs = load_pairs(target_dir, layout=layout, split=split, scale=asked)
    lr_images = [pair.lr for pair in pairs if pair.lr is not None]
    if len(lr_images) < len(pairs):
        raise ConfigError(
            f"{target_dir}: layout {layout!r} has no real LR images, so it is no real-pair "
            "target; for a folder of source images leave out --target-layout"
        )
    scales = sorted({pair.scale for pair in pairs})
    if len(scales) > 1:
        raise ConfigError(f"{target_dir}: target pairs of several scales {scales}; use one")
    aux_config = config.pairs.model_copy(
        update={"scale": scales[0], "cleanup": config.aux_cleanup or config.pairs.cleanup}
    )
    return _Plan(
        mode=REAL_PAIR_MODE,
        description=(
            f"real-pair target: CATI from the target LR images, {len(pairs)} target pairs "
            "used in place"
        ),
        cati_images=lr_images,
        target_jobs=[],
        target_pairs=pairs,
        target_config=aux_config,
        aux_config=aux_config,
        settings={
            "mode": REAL_PAIR_MODE,
            "target": str(target_dir.resolve()),
            "target_layout": layout,
            "target_split": split,
            "target_scale": scales[0],
        },
        # the settings that take effect: the auxiliary pairs' recipe, not the unused defaults
        effective={"pairs": aux_config.model_dump(), "aux_cleanup": aux_config.cleanup},
        inputs=sorted({path.parent for path in [*lr_images, *(pair.hr for pair in pairs)]}),
    )


def run_ngdc(
    target_dir: str | Path,
    aux_dir: str | Path,
    out_dir: str | Path,
    *,
    config: NgdcConfig | None = None,
    target_layout: str | None = None,
    target_split: str | None = None,
    workers: int = 1,
    overwrite: bool = False,
    export_png: bool = False,
    progress: bool = True,
) -> NgdcResult:
    """NGDC end to end; see the module docstring for the two modes and the output layout.

    `target_layout` (a name of rwsr.data.datasets.LAYOUTS) makes `target_dir` a real-pair
    target read with `load_pairs(target_dir, layout=target_layout, split=target_split)`;
    None = a folder of source images (Algorithm 1 as written).
    """
    start = time.perf_counter()
    check_output_dir(out_dir, option="-o")  # before any scan: its work would be lost at the end
    config = config or NgdcConfig()
    target_dir, aux_dir, out_dir = Path(target_dir), Path(aux_dir), Path(out_dir)
    sampling = config.sampling
    if target_layout is None:
        if target_split is not None:
            raise ConfigError("--target-split belongs to a real-pair target: give --target-layout")
        plan = _source_plan(target_dir, config)
    else:
        plan = _real_pair_plan(target_dir, config, target_layout, target_split)
    aux_paths = list_images(aux_dir, what="auxiliary folder")
    aux_jobs = jobs_for(aux_paths, prefix=AUX_PREFIX)
    check_names(plan.target_jobs + aux_jobs)  # every file this run may write, before any work
    settings = {
        **plan.settings,
        "aux": str(aux_dir.resolve()),
        **config.model_dump(),
        **plan.effective,
        "export_png": export_png,
    }
    resumed = claim_output(
        out_dir,
        command="ngdc",
        settings=settings,
        overwrite=overwrite,
        owned=[*NGDC_OUTPUT, *pair_files(plan.target_jobs + aux_jobs)],
        inputs=[
            *plan.inputs,
            *plan.cati_images,
            *(p.hr for p in plan.target_pairs),
            aux_dir,
            *aux_paths,
        ],
    )
    rewrite = overwrite or resumed
    real = plan.mode == REAL_PAIR_MODE
    with WorkerPool(workers) as pool:
        scan = functools.partial(scan_set, patch=sampling.patch, workers=pool, progress=progress)
        target = scan(plan.cati_images, label="target LR" if real else "target")
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
        decodable = {image.path for image in target.images if image.width > 0}
        target_records = [_target_record(r, real) for r in target_records]
        kept = {selection.source for selection in aux_windows}
        make_pairs = functools.partial(
            generate_pairs, out_dir=out_dir, workers=pool, overwrite=overwrite, progress=progress
        )
        target_jobs = [job for job in plan.target_jobs if job.source in decodable]
        summary = make_pairs(target_jobs, config=plan.target_config)
        aux_summary = make_pairs(
            [job for job in aux_jobs if job.source in kept], config=plan.aux_config
        )
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
    target_what = "target pairs" if real else "target"
    write_report(
        out_dir,
        title=f"NGDC: {target_what} {target_dir.name}, auxiliary {aux_dir.name}",
        settings={**settings, "workers": workers},
        cati=cati,
        records=records,
        variances={
            "target LR" if real else "target": variance,
            "aux": aux.candidates(exclude_clipped=sampling.exclude_clipped)[0],
        },
        seconds=end - start,
        megapixels=target.megapixels + aux.megapixels,
        totals={
            **({"target pairs used in place": len(plan.target_pairs)} if real else {}),
            "pairs": summary.line() + (" (auxiliary pairs only)" if real else ""),
            "bank patches": patches,
            "bank patches from target" + (" LR images" if real else ""): sum(
                int(w.y.size) for w in target_windows
            ),
            "bank patches from aux": sum(int(w.y.size) for w in aux_windows),
        },
        overwrite=rewrite,
        phases={
            "scanning (decode + statistics)": scanned - start,
            "making pairs": paired - scanned,
            "writing the bank": end - paired,
        },
        mode={"name": plan.mode, "text": plan.description},
        target_pairs=[
            {"name": pair.name, "lr": str(pair.lr), "hr": str(pair.hr), "scale": pair.scale}
            for pair in plan.target_pairs
        ]
        if real
        else None,
        aux_pairs={job.source: job.name for job in aux_jobs if job.source in kept},
    )
    return NgdcResult(cati, records, summary, patches, resumed, plan.mode, plan.target_pairs)


def _target_record(record: ImageRecord, real: bool) -> ImageRecord:
    """A decodable target image is always kept: it is (or, with real pairs, is the LR of) a
    training pair, even when it is too small for one window."""
    if record.status == "failed":
        return record
    if real:
        windows = f"; no windows: {record.reason}" if record.status == "dropped" else ""
        return replace(record, status="kept", reason=f"real pair, used in place{windows}")
    if record.status == "dropped":
        return replace(record, status="kept", reason=f"paired, no windows: {record.reason}")
    return record
