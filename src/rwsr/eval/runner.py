"""The evaluation loop: every method on every test image, one image in memory at a time.

A failure (missing file, unreadable image, size mismatch, a model error on one image) is
recorded as a Problem for that image and method, and the loop goes on; `Evaluation.complete`
tells whether everything was evaluated (the CLI's exit status). What is evaluated but needs
a caveat (NIQE undefined or not computed, a grayscale HR against a colour result) carries it
in its row and in the notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm  # type: ignore[import-untyped]

from rwsr.errors import RwsrError
from rwsr.eval.methods import Method
from rwsr.eval.regions import Box, detail_box
from rwsr.eval.samples import Problem, Sample
from rwsr.eval.scorer import MetricSettings, Scorer
from rwsr.imageio import read_image
from rwsr.metrics.color import is_gray
from rwsr.metrics.niqe import UNDEFINED as NIQE_UNDEFINED

HR_ROW = "HR (reference)"
GRAY_HR = (
    "the HR image is grayscale but the result has colour: RGB PSNR/SSIM and LPIPS count its"
    " colour as error"
)


@dataclass(frozen=True)
class Score:
    image: str
    method: str
    values: dict[str, float]
    notes: tuple[str, ...] = ()  # caveats of these values, e.g. why NIQE is missing


@dataclass
class Crops:
    """The same region of one test image for HR and every method (for the figures)."""

    hr: np.ndarray
    box: Box
    images: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Evaluation:
    settings: MetricSettings
    methods: list[str]
    baseline: str | None
    samples: list[str]
    scores: list[Score] = field(default_factory=list)
    reference: dict[str, dict[str, float]] = field(default_factory=dict)  # HR's NIQE per image
    reference_notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    crops: dict[str, Crops] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every method was evaluated on every test image."""
        return not self.problems and len(self.scores) == len(self.methods) * len(self.samples)

    def values(self, method: str, key: str) -> list[float]:
        return [s.values[key] for s in self.scores if s.method == method and key in s.values]


def evaluate(
    samples: list[Sample],
    methods: list[Method],
    settings: MetricSettings,
    *,
    baseline: str | None = None,
    figure_images: int = 3,
    scorer: Scorer | None = None,
    progress: bool = True,
) -> Evaluation:
    """Score every method on every sample; the first `figure_images` samples keep crops."""
    scorer = scorer or Scorer(settings)
    result = Evaluation(
        settings=settings,
        methods=[m.name for m in methods],
        baseline=baseline,
        samples=[s.name for s in samples],
    )
    bar = tqdm(total=len(samples) * len(methods), unit="img", disable=not progress)
    for index, sample in enumerate(samples):
        try:
            hr = read_image(sample.hr)
        except RwsrError as error:
            result.problems.append(Problem(sample.name, None, str(error)))
            bar.update(len(methods))
            continue
        reference, reference_notes = _no_reference(scorer, hr)
        result.reference[sample.name] = reference
        result.reference_notes[sample.name] = reference_notes
        result.notes += [f"{sample.name} HR: {note}" for note in reference_notes]
        gray_hr = is_gray(hr)
        crops = None
        if index < figure_images:
            crops = Crops(hr=hr, box=detail_box(hr))
            crops.images[HR_ROW] = crops.box.cut(hr)
            result.crops[sample.name] = crops
        for method in methods:
            bar.set_postfix_str(f"{sample.name} {method.name}", refresh=False)
            try:
                sr = method.image(sample)
                values = scorer.score(sr, hr)
                niqe, notes = _no_reference(scorer, sr)
                values.update(niqe)
            except RwsrError as error:
                result.problems.append(Problem(sample.name, method.name, str(error)))
            else:
                if gray_hr and not is_gray(sr):
                    notes = (GRAY_HR, *notes)
                result.scores.append(Score(sample.name, method.name, values, notes))
                result.notes += [f"{sample.name} {method.name}: {note}" for note in notes]
                if crops is not None:
                    crops.images[method.name] = crops.box.cut(sr)
            bar.update(1)
    bar.close()
    return result


def _no_reference(scorer: Scorer, image: np.ndarray) -> tuple[dict[str, float], tuple[str, ...]]:
    """NIQE where the image allows it, and the reason (not a failure) where it does not: too
    small, or undefined (NaN) on a flat image."""
    try:
        values = scorer.no_reference(image)
    except RwsrError as error:
        return {}, (f"no NIQE ({error})",)
    if math.isnan(values.get("niqe", 0.0)):
        return values, (NIQE_UNDEFINED,)
    return values, ()
