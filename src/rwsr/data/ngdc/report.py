"""Reports of noise collection and NGDC: report.json (everything), report.md (for people) and
report.png (histogram of patch variance with the CATI marked)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rwsr.atomic import atomic_path, write_text_atomic
from rwsr.data.ngdc.cati import Cati

CONVENTION = (
    "Statistics on BT.601 luma (0.299 R + 0.587 G + 0.114 B) on the 0-255 scale, population "
    "variance, s x s windows at stride s."
)


@dataclass(frozen=True)
class ImageRecord:
    """What happened to one image."""

    path: str
    role: str  # "source", "target" or "aux"
    status: str  # "kept", "dropped" or "failed"
    reason: str
    windows: int = 0
    usable: int = 0  # windows not left out for clipping
    in_cati: int = 0


def write_report(
    out_dir: Path,
    *,
    title: str,
    settings: Mapping[str, object],
    cati: Cati,
    records: list[ImageRecord],
    variances: Mapping[str, np.ndarray],
    seconds: float,
    megapixels: float,
    totals: Mapping[str, object],
    overwrite: bool,
    phases: Mapping[str, float] | None = None,
    mode: Mapping[str, str] | None = None,
    target_pairs: Sequence[Mapping[str, object]] | None = None,
    aux_pairs: Mapping[Path, str] | None = None,
) -> None:
    """Write report.json, report.md and report.png into `out_dir`.

    NGDC adds `mode` ({"name", "text"}: which kind of target ran), `target_pairs` (name, lr,
    hr of the pairs used in place, for a real-pair target) and `aux_pairs` (kept auxiliary
    source -> pair file name); the report then lists kept and dropped auxiliary images.
    """
    summary = {
        role: {
            status: sum(1 for r in records if r.role == role and r.status == status)
            for status in ("kept", "dropped", "failed")
        }
        for role in dict.fromkeys(r.role for r in records)
    }
    report: dict[str, object] = {"title": title}
    if mode is not None:
        report["mode"] = dict(mode)
    report |= {
        "convention": CONVENTION,
        "settings": dict(settings),
        "cati": cati.model_dump(mode="json") | {"text": cati.describe()},
        "images": summary,
        "totals": dict(totals),
        "wall_seconds": round(seconds, 3),
        "phase_seconds": {k: round(v, 3) for k, v in (phases or {}).items()},
        "megapixels": round(megapixels, 3),
        "megapixels_per_second": round(megapixels / seconds, 3) if seconds > 0 else None,
        "records": [asdict(r) for r in records],
    }
    if target_pairs is not None:
        report["target_pairs"] = [dict(pair) for pair in target_pairs]
    if aux_pairs is not None:
        names = {str(source): name for source, name in aux_pairs.items()}
        aux = [r for r in records if r.role == "aux"]
        report["auxiliary"] = {
            "kept": [
                {"path": r.path, "pair": names.get(r.path), "in_cati": r.in_cati}
                for r in aux
                if r.status == "kept"
            ],
            "dropped": [{"path": r.path, "reason": r.reason} for r in aux if r.status == "dropped"],
            "failed": [{"path": r.path, "reason": r.reason} for r in aux if r.status == "failed"],
        }
    write_text_atomic(
        out_dir / "report.json", json.dumps(report, indent=1) + "\n", overwrite=overwrite
    )
    write_text_atomic(out_dir / "report.md", _markdown(report), overwrite=overwrite)
    _histogram(out_dir / "report.png", variances, cati, title, overwrite=overwrite)


LEGEND = (
    "kept: a target image always (it becomes a pair; its in-CATI windows join the bank); "
    "any other image when it has windows in the CATI (they join the bank; an auxiliary "
    "image also becomes a pair). dropped: no window in the CATI, or smaller than one "
    "window. failed: unreadable."
)
REAL_PAIR_LEGEND = (
    "kept: a target pair always (used in place, not copied; the in-CATI windows of its LR "
    "image join the bank); an auxiliary image when it has enough windows in the CATI (it "
    "becomes an aux_ pair in HR/ and LR/, its windows join the bank). dropped: too few windows "
    "in the CATI, or smaller than one window. failed: unreadable."
)


def _markdown(report: dict) -> str:
    lines = [f"# {report['title']}", ""]
    mode = report.get("mode")
    if mode:
        lines += [f"**Mode: {mode['text']}.**", ""]
    lines += [report["convention"], ""]
    lines += ["## Settings", ""] + [f"- {k}: {v}" for k, v in report["settings"].items()] + [""]
    lines += ["## CATI", "", report["cati"]["text"], ""]
    if "target_pairs" in report:
        lines += [
            "## Target pairs (used in place)",
            "",
            "| name | LR | HR |",
            "|---|---|---|",
            *(f"| {p['name']} | {p['lr']} | {p['hr']} |" for p in report["target_pairs"]),
            "",
        ]
    lines += ["## Images", "", "| set | kept | dropped | failed |", "|---|---|---|---|"]
    for role, counts in report["images"].items():
        lines.append(f"| {role} | {counts['kept']} | {counts['dropped']} | {counts['failed']} |")
    real = bool(mode) and mode.get("name") == "real-pair"
    lines += ["", REAL_PAIR_LEGEND if real else LEGEND, ""]
    lines += [f"- {k}: {v}" for k, v in report["totals"].items()]
    lines += [
        (
            f"- wall time: {report['wall_seconds']} s, {report['megapixels']} MPix scanned, "
            f"{report['megapixels_per_second']} MPix/s"
        ),
        *(f"- {phase}: {value} s" for phase, value in report["phase_seconds"].items()),
        "",
        "![variance histogram](report.png)",
        "",
    ]
    if "auxiliary" in report:
        aux = report["auxiliary"]
        kept = [
            f"- {Path(a['path']).name} -> {a['pair']} ({a['in_cati']} windows in the CATI)"
            for a in aux["kept"]
        ]
        lines += [f"## Auxiliary images: {len(kept)} kept", "", *(kept or ["- none"]), ""]
        for status in ("dropped", "failed"):
            listed = [f"- {Path(a['path']).name}: {a['reason']}" for a in aux[status]]
            if listed or status == "dropped":
                title = f"## Auxiliary images: {len(listed)} {status}"
                lines += [title, "", *(listed or ["- none"]), ""]
    lines += [
        "## Per image",
        "",
        "| image | set | status | windows | usable | in CATI | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["records"]:
        lines.append(
            f"| {Path(r['path']).name} | {r['role']} | {r['status']} | {r['windows']} | "
            f"{r['usable']} | {r['in_cati']} | {r['reason']} |"
        )
    return "\n".join(lines) + "\n"


def _histogram(
    path: Path, variances: Mapping[str, np.ndarray], cati: Cati, title: str, *, overwrite: bool
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    floor = 1e-2  # zero-variance windows are drawn at the left edge of a log axis
    everything = np.concatenate([v for v in variances.values() if v.size] or [np.ones(1)])
    top = max(float(everything.max()), cati.variance[1], 1.0) * 1.5
    bins = np.logspace(np.log10(floor), np.log10(top), 80)
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    for role, values in variances.items():
        axes.hist(np.maximum(values, floor), bins=bins, alpha=0.6, label=f"{role} ({values.size})")
    axes.axvspan(
        max(cati.variance[0], floor),
        max(cati.variance[1], floor * 1.05),
        color="tab:red",
        alpha=0.25,
        label="CATI variance",
    )
    axes.set_xscale("log")
    axes.set_xlabel("luma variance of a window (BT.601, 0-255 scale)")
    axes.set_ylabel("windows")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
