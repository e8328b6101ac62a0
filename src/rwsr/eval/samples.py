"""The test images of an evaluation and the matching files of each method.

A sample is one HR image (with its LR where known). Files are matched by name, the way SR
tools name their outputs: a file belongs to a sample when its stem equals one of the
sample's keys (HR stem, LR stem, data set name) or starts with a key followed by one of
`_ - . x` (`0801x4.png`, `021L_x1.png`, `Canon_001_LR4_rlt.png`). What cannot be matched is
reported, never fatal for the other images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rwsr.data.folders import list_images
from rwsr.errors import ConfigError, InputError

SEPARATORS = "_-.x"
# `rwsr evaluate --dataset` takes the names of rwsr.data.datasets' layouts, as training's
# `layout` does (the paper's CameraSR experiment is the city100 layout: City100 iPhone X).
DATASET_LAYOUTS = ("realsr", "city100", "ntire2020", "aim2019", "paired")
# Evaluation uses the test split unless told otherwise (the readers default to training).
TEST_SPLITS = {"realsr": "test", "city100": "test", "ntire2020": "valid", "aim2019": "valid"}


@dataclass(frozen=True)
class Sample:
    """One test image: its HR file, its LR file (if any) and the names its outputs may carry."""

    name: str
    hr: Path
    lr: Path | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        keys = [self.hr.stem, self.name] + ([self.lr.stem] if self.lr is not None else [])
        return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Problem:
    """Something that kept one image of one method (or all, method None) from evaluation."""

    image: str
    method: str | None
    reason: str


def _belongs(stem: str, key: str) -> bool:
    return stem == key or (stem.startswith(key) and stem[len(key)] in SEPARATORS)


def match_files(
    samples: list[Sample], files: list[Path]
) -> tuple[dict[str, Path], list[str], list[str]]:
    """Sample name -> file; plus samples without a file and human-readable notes.

    Notes list files that match no sample (ignored) and samples that several files match
    (then none is used: guessing would evaluate the wrong image).
    """
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    found: dict[str, Path] = {}
    missing: list[str] = []
    notes: list[str] = []
    used: set[Path] = set()
    for sample in samples:
        exact = [p for key in sample.keys for p in by_stem.get(key, [])]
        candidates = exact or [
            p for p in files if any(_belongs(p.stem, key) for key in sample.keys)
        ]
        candidates = list(dict.fromkeys(candidates))
        if len(candidates) == 1:
            found[sample.name] = candidates[0]
            used.add(candidates[0])
        elif not candidates:
            missing.append(sample.name)
        else:
            names = ", ".join(p.name for p in candidates)
            notes.append(f"{sample.name}: several files match ({names}); none was used")
            missing.append(sample.name)
    extra = [p.name for p in files if p not in used]
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        notes.append(f"{len(extra)} file(s) match no test image and were ignored: {shown}")
    return found, missing, notes


def samples_from_folders(
    hr_dir: str | os.PathLike[str], lr_dir: str | os.PathLike[str] | None = None
) -> tuple[list[Sample], list[Problem], list[str]]:
    """Every image of `hr_dir` is a sample; its LR is the matching file of `lr_dir`."""
    hr_files = list_images(hr_dir, what="HR folder")
    samples = [Sample(name=path.stem, hr=path) for path in hr_files]
    if lr_dir is None:
        return samples, [], []
    found, missing, notes = match_files(samples, list_images(lr_dir, what="LR folder"))
    problems = [Problem(name, None, f"no LR image in {lr_dir}") for name in missing]
    with_lr = [Sample(name=s.name, hr=s.hr, lr=found.get(s.name)) for s in samples]
    return with_lr, problems, [f"LR folder: {note}" for note in notes]


def samples_from_dataset(
    dataset: str, root: str | os.PathLike[str], *, split: str | None, scale: int | None
) -> tuple[list[Sample], int, list[Problem], list[str]]:
    """Samples, scale, problems and notes of a known data set layout; the split defaults to
    the test split (RealSR and City100 test, NTIRE/AIM validation).

    `paired` (HR/ + LR/) is read here; the other layouts come from the rwsr.data.datasets
    readers, which list a missing partner or a wrong size as a problem of that pair alone.
    """
    from rwsr.data.datasets import load_pairs

    if dataset not in DATASET_LAYOUTS:
        hint = " (CameraSR's data set is city100)" if dataset == "camerasr" else ""
        raise ConfigError(
            f"--dataset must be one of {', '.join(DATASET_LAYOUTS)}, but got {dataset!r}{hint}"
        )
    if dataset == "paired":
        if split not in (None, "all"):
            raise ConfigError(f"paired has no split {split!r}; valid: all")
        samples, problems, notes = samples_from_folders(Path(root) / "HR", Path(root) / "LR")
        return samples, scale or 4, problems, notes
    split = split or TEST_SPLITS.get(dataset)
    found: list[str] = []
    try:
        pairs = load_pairs(root, layout=dataset, split=split, scale=scale, problems=found)
    except InputError as error:
        raise InputError(f"{error} (--dataset {dataset}, split {split or 'all'})") from None
    samples = [Sample(name=pair.name, hr=pair.hr, lr=pair.lr) for pair in pairs]
    problems = [
        Problem(image=Path(where).stem, method=None, reason=reason)
        for where, reason in (message.split(": ", 1) for message in found)
    ]
    return samples, pairs[0].scale, problems, []
