"""Writing a computed MOS report (rwsr.mos.results): Markdown, CSV and JSON tables and the
bar chart."""

from __future__ import annotations

from pathlib import Path

from rwsr.atomic import write_bytes_atomic, write_text_atomic
from rwsr.errors import InputError
from rwsr.mos.results import Report
from rwsr.mos.tables import markdown, methods_csv, raters_csv, to_json

REPORT_FILES = ("mos.md", "mos.csv", "mos.json", "raters.csv", "mos.png")


def write_report(report: Report, out_dir: Path, *, overwrite: bool = False) -> list[Path]:
    """Write the Markdown, CSV and JSON tables and the bar chart into `out_dir`.

    Nothing is written if any target exists and `overwrite` is off.
    """
    from rwsr.mos.chart import bar_chart_png  # matplotlib loads only when a chart is drawn

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    targets = [out_dir / name for name in REPORT_FILES]
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise InputError(f"{', '.join(existing)}: already exist(s); pass --overwrite to replace")
    texts = [markdown(report), methods_csv(report), to_json(report), raters_csv(report)]
    for path, text in zip(targets, texts):
        write_text_atomic(path, text, overwrite=overwrite)
    write_bytes_atomic(targets[-1], bar_chart_png(report), overwrite=overwrite)
    return targets
