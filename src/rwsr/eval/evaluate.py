"""`rwsr evaluate` as a function: a test set, the methods to compare (result folders, models,
a baseline) and the metric convention in; the scores and the report folder out.

`evaluate` decides what the command decides: which test images (HR/LR folders or a data set
layout), which baseline (bicubic above x1, the LR image at x1, none without LR images), that
every method has its own name, and that no output is replaced without `overwrite`; all of it
before the first metric. A bad argument raises ConfigError, an unusable file or folder
InputError. Images that cannot be evaluated do not raise: they are listed in the report and
`EvaluationReport.complete` is False.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm  # type: ignore[import-untyped]

from rwsr.device import resolve_device
from rwsr.errors import ConfigError
from rwsr.eval.methods import Method, ModelMethod, baseline_method, folder_method
from rwsr.eval.report import check_outputs, write_report
from rwsr.eval.runner import Evaluation
from rwsr.eval.runner import evaluate as score_all
from rwsr.eval.samples import Problem, samples_from_dataset, samples_from_folders
from rwsr.eval.scorer import METRICS, settings_from_options
from rwsr.eval.tables import summary_markdown
from rwsr.outputs import check_output_dir

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class EvaluationReport:
    """What one evaluation computed and wrote."""

    evaluation: Evaluation  # every score, problem and note
    summary: str  # summary.md: the paper-style table with its conventions and problems
    files: list[Path]  # every file written, report.html last

    @property
    def complete(self) -> bool:
        """True when every method was evaluated on every test image (`rwsr evaluate` exits 0)."""
        return self.evaluation.complete


def evaluate(
    output: PathLike,
    *,
    hr: PathLike | None = None,
    lr: PathLike | None = None,
    dataset: str | None = None,
    root: PathLike | None = None,
    split: str | None = None,
    sr: Iterable[tuple[str, PathLike]] = (),
    models: Sequence[str] = (),
    scale: int | None = None,
    baseline: str = "auto",
    metrics: Sequence[str] = METRICS,
    channels: Sequence[str] = ("y", "rgb"),
    crop_border: int | None = None,
    lpips_net: str = "alex",
    lpips_backbone: str | None = None,
    niqe_luma: str = "y",
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    limit: int | None = None,
    figure_images: int = 3,
    title: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> EvaluationReport:
    """Score the methods on one test set and write the report folder `output`.

    The test set is `hr` (with `lr` for models and the baseline) or `dataset` (a name of
    `samples.DATASET_LAYOUTS`) read from `root`, its `split` defaulting to the test split.
    Methods: `sr` as (name, folder) pairs (`dict.items()` will do), `models` (zoo names or
    checkpoint files, run on the LR images) and `baseline` (auto, bicubic, identity, none).
    `scale` defaults to the data set's, else 4, and `crop_border` to the scale. With
    `progress`, progress bars and what is evaluated go to stderr.
    """
    # Before any metric: a folder that cannot be written would lose them all at the end.
    check_output_dir(output, option="-o")
    for option, value, least in (
        ("--scale", scale, 1),
        ("--limit", limit, 1),
        ("--figure-images", figure_images, 0),
    ):
        if value is not None and value < least:
            raise ConfigError(f"{option} must be at least {least}, but got {value}")
    if (dataset is None) == (hr is None):
        raise ConfigError(
            "give either --hr DIR (and optionally --lr DIR) or --dataset NAME --root DIR"
        )
    notes: list[str] = []
    problems: list[Problem] = []
    if dataset is not None:
        if root is None:
            raise ConfigError("--dataset needs --root, the folder that holds the data set")
        if lr is not None:
            raise ConfigError("--lr is taken from --dataset; give one or the other")
        samples, scale, problems, notes = samples_from_dataset(
            dataset, root, split=split, scale=scale
        )
        source = f"{dataset}{f' {split}' if split else ''} at {root}"
    else:
        assert hr is not None
        samples, problems, notes = samples_from_folders(hr, lr)
        scale = scale or 4
        source = str(hr)
    if limit is not None:
        samples = samples[:limit]
        kept = {s.name for s in samples}
        problems = [p for p in problems if p.image in kept]
    torch_device = str(resolve_device(device))
    settings = settings_from_options(
        scale=scale,
        crop_border=scale if crop_border is None else crop_border,
        metrics=tuple(metrics),
        channels=tuple(channels),
        lpips_net=lpips_net,
        lpips_backbone=lpips_backbone,
        niqe_luma=niqe_luma,
        device=torch_device,
    )
    methods: list[Method] = []
    base = baseline_method(baseline, scale)
    if dataset is None and lr is None:  # no LR images: no baseline unless one was demanded
        if baseline in ("bicubic", "identity"):
            raise ConfigError(f"--baseline {baseline} needs the LR images: give --lr DIR")
        base = None
    if base is not None:
        methods.append(base)
    for name, folder in sr:
        method = folder_method(name, folder, samples)
        notes += [f"{name}: {note}" for note in method.notes]
        methods.append(method)
    methods += [_model_method(m, scale, torch_device, precision, tile, progress) for m in models]
    names = [m.name for m in methods]
    if not methods:
        raise ConfigError("nothing to evaluate: give --sr NAME=DIR, --model NAME or a --baseline")
    if len(set(names)) != len(names):
        raise ConfigError(f"method names must differ, but got {', '.join(names)}")
    check_outputs(output, [s.name for s in samples[:figure_images]], overwrite=overwrite)
    if progress:
        tqdm.write(
            f"{len(samples)} test image(s) from {source}; methods: {', '.join(names)};"
            f" metrics on {settings.device}",
            file=sys.stderr,
        )
    result = score_all(
        samples,
        methods,
        settings,
        baseline=base.name if base is not None else None,
        figure_images=figure_images,
        progress=progress,
    )
    result.problems[:0] = problems
    result.notes[:0] = notes
    title = title or f"Evaluation on {source}"
    files = write_report(result, output, title=title, overwrite=overwrite)
    return EvaluationReport(evaluation=result, summary=summary_markdown(result, title), files=files)


def _model_method(
    name: str,
    scale: int,
    device: str,
    precision: str,
    tile: int | None,
    progress: bool,
) -> ModelMethod:
    """A zoo model or checkpoint run on the LR images, named after the zoo entry or file."""
    from rwsr.models.catalog import describe
    from rwsr.models.zoo import ZOO, load_generator
    from rwsr.upscale.engine import Upscaler

    loaded = load_generator(name, progress=progress)
    upscaler = Upscaler(loaded.model, device=device, precision=precision, tile=tile)
    if upscaler.scale != scale:
        raise ConfigError(
            f"--model {name} upscales x{upscaler.scale}, but the test set is x{scale}"
        )
    label = name if name in {entry.name for entry in ZOO} else Path(name).stem
    if progress:
        tqdm.write(f"--model {name}: {describe(loaded.config)['architecture']}", file=sys.stderr)
    return ModelMethod(name=label, upscaler=upscaler)
