"""Readers that turn the folder layouts of real-world SR data sets into lists of LR/HR pairs.

Layouts (DESIGN §4) and the paper's splits, by name (see LAYOUTS):
- realsr:   RealSR V3  {Canon,Nikon}/{Train,Test}/{2,3,4}/Canon_001_HR.png + Canon_001_LR4.png;
            the paper uses Canon x4 (test 001-050).
- city100:  CameraSR City100 iPhone X  001H.PNG + 001L.PNG, same size (x1);
            train 021-100, test 001-020 (the paper's splits); rwsr's model-selection split of
            the paper's training pairs: fit 021-090, val 091-100.
- ntire2020 / aim2019: validation pairs Corrupted-va-x/NNNN.png (LR) + DIV2K_valid_HR/NNNN.png
            (x4); their training data is unpaired: make pairs with `rwsr ngdc`.
- div2k / flickr2k: DIV2K_{train,valid}_HR/0001.png + DIV2K_{train,valid}_LR_bicubic/X4/0001x4.png,
            Flickr2K_HR/000001.png + Flickr2K_LR_bicubic/X4/000001x4.png.
- paired:   any HR/ + LR/ folders with the same file names, which is what `rwsr pairs` and
            `rwsr ngdc` write.
- clean:    a folder of clean photos (the paper's DIV2K HR images) without LR files: `lr` is
            None and the training set makes each LR from its HR (rwsr.data.pairs.make_pair).

Every reader checks what training would trip over later: a missing partner, LR size x scale
!= HR size, an unreadable file, an empty set; errors name the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rwsr.data.folders import list_images
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import image_size


@dataclass(frozen=True)
class ImagePair:
    """One training or test pair; LR is HR / scale in each dimension. `lr` None: a clean
    photo whose LR is made from HR when it is read (layout clean)."""

    name: str
    lr: Path | None
    hr: Path
    scale: int


def _report(problem: str, problems: list[str] | None) -> None:
    """Raise (training data: stop at the first problem) or collect (evaluation: list them all)."""
    if problems is None:
        raise InputError(problem)
    problems.append(problem)


def check_pairs(
    pairs: Sequence[ImagePair], *, where: Path, problems: list[str] | None = None
) -> list[ImagePair]:
    """The pairs whose sizes match their scale; a mismatch or an unreadable file raises
    InputError, or with `problems` is listed there and the pair left out. No pair at all
    always raises."""
    checked = []
    for pair in pairs:
        try:
            hr_w, hr_h = image_size(pair.hr)
            if pair.lr is None:  # made from HR (cropped to a multiple of the scale)
                if min(hr_w, hr_h) < pair.scale:
                    raise InputError(f"{pair.hr}: {hr_w}x{hr_h} is too small for x{pair.scale}")
                checked.append(pair)
                continue
            lr_w, lr_h = image_size(pair.lr)
        except InputError as error:
            _report(str(error), problems)
            continue
        if (lr_w * pair.scale, lr_h * pair.scale) != (hr_w, hr_h):
            _report(
                f"{pair.lr}: LR is {lr_w}x{lr_h}, so x{pair.scale} gives "
                f"{lr_w * pair.scale}x{lr_h * pair.scale}, but HR {pair.hr} is {hr_w}x{hr_h}",
                problems,
            )
            continue
        checked.append(pair)
    if not checked:
        raise InputError(f"{where}: no image pairs found" + (" that can be used" if pairs else ""))
    return checked


def match_by_name(
    lr_dir: Path,
    hr_dir: Path,
    *,
    scale: int,
    lr_name: Callable[[str], str] = lambda stem: stem,
    problems: list[str] | None = None,
) -> list[ImagePair]:
    """Pair every HR image with the LR image named lr_name(HR stem); an orphan is an error
    (or, with `problems`, listed there)."""
    hr_images = list_images(hr_dir, what="HR folder")
    lr_images = {path.stem: path for path in list_images(lr_dir, what="LR folder")}
    pairs, missing = [], []
    for hr in hr_images:
        lr = lr_images.pop(lr_name(hr.stem), None)
        if lr is None:
            missing.append(hr)
        else:
            pairs.append(ImagePair(hr.stem, lr, hr, scale))
    if problems is not None:
        problems += [
            f"{hr}: no LR partner named {lr_name(hr.stem)}.* in {lr_dir}" for hr in missing
        ]
        problems += [f"{lr}: no HR partner in {hr_dir}" for lr in lr_images.values()]
        return pairs
    if missing:
        raise InputError(
            f"{missing[0]}: no LR partner named {lr_name(missing[0].stem)}.* in {lr_dir}"
            + (f" (and {len(missing) - 1} more HR images without one)" if len(missing) > 1 else "")
        )
    if lr_images:
        orphan = next(iter(lr_images.values()))
        raise InputError(f"{orphan}: no HR partner in {hr_dir}")
    return pairs


def paired(
    root: Path, *, split: str = "all", scale: int | None = None, problems: list[str] | None = None
) -> list[ImagePair]:
    """ROOT/HR + ROOT/LR with the same names (rwsr pairs / rwsr ngdc output); the scale, unless
    given, is the HR/LR width ratio of the first pair (every other pair is checked against it)."""
    _split(split, ("all",), "paired")
    pairs = match_by_name(root / "LR", root / "HR", scale=scale or 1, problems=problems)
    if scale is None and pairs:
        (lr_w, _), (hr_w, _) = image_size(pairs[0].lr), image_size(pairs[0].hr)
        ratio = max(round(hr_w / lr_w), 1)
        pairs = [dataclasses.replace(pair, scale=ratio) for pair in pairs]
    return pairs


CITY100_SPLITS = {
    "train": range(21, 101),  # the paper's training pairs
    "test": range(1, 21),  # the paper's test pairs
    "all": range(1, 101),
    "fit": range(21, 91),  # rwsr: the paper's training pairs minus a validation hold-out...
    "val": range(91, 101),  # ...kept for model selection, so no choice sees the test pairs
}


def city100(
    root: Path, *, split: str = "train", scale: int = 1, problems: list[str] | None = None
) -> list[ImagePair]:
    """City100 iPhone X: NNNH.PNG (HR) + NNNL.PNG (LR), same size; ROOT or ROOT/City100_iPhoneX."""
    wanted = CITY100_SPLITS.get(split)
    _split(split, tuple(CITY100_SPLITS), "city100")
    if scale != 1:
        raise ConfigError(f"city100 pairs are x1 (LR and HR of the same size), got scale {scale}")
    folder = root / "City100_iPhoneX" if (root / "City100_iPhoneX").is_dir() else root
    pairs = []
    listing = _listing(folder) if folder.is_dir() else {}
    for hr in list_images(folder, what="City100 folder"):
        match = re.fullmatch(r"(\d{3})H", hr.stem)
        if not match or int(match.group(1)) not in wanted:
            continue
        lr = _partner(hr, f"{match.group(1)}L", listing, problems)
        if lr is not None:
            pairs.append(ImagePair(match.group(1), lr, hr, 1))
    return pairs


def realsr(
    root: Path,
    *,
    split: str = "train",
    scale: int = 4,
    camera: str = "Canon",
    problems: list[str] | None = None,
) -> list[ImagePair]:
    """RealSR V3: ROOT/{camera}/{Train,Test}/{scale}/{camera}_NNN_HR.png + _LR{scale}.png."""
    _split(split, ("train", "test"), "realsr")
    if camera not in ("Canon", "Nikon"):
        raise ConfigError(f"realsr camera must be Canon or Nikon, got {camera!r}")
    folder = root / camera / split.capitalize() / str(scale)
    pairs = []
    listing = _listing(folder) if folder.is_dir() else {}
    for hr in list_images(folder, what=f"RealSR {camera} {split} x{scale} folder"):
        if not hr.stem.endswith("_HR"):
            continue
        base = hr.stem[: -len("_HR")]
        lr = _partner(hr, f"{base}_LR{scale}", listing, problems)
        if lr is not None:
            pairs.append(ImagePair(base, lr, hr, scale))
    return pairs


def clean(
    root: Path, *, split: str = "all", scale: int = 4, problems: list[str] | None = None
) -> list[ImagePair]:
    """Every image directly in ROOT as an HR image whose LR is made when it is read."""
    _split(split, ("all",), "clean")
    return [
        ImagePair(path.stem, None, path, scale)
        for path in list_images(root, what="clean image folder")
    ]


def _source_target(
    root: Path, split: str, scale: int, name: str, problems: list[str] | None
) -> list[ImagePair]:
    _split(split, ("valid",), name)
    return match_by_name(
        root / "Corrupted-va-x", root / "DIV2K_valid_HR", scale=scale, problems=problems
    )


def ntire2020(
    root: Path, *, split: str = "valid", scale: int = 4, problems: list[str] | None = None
) -> list[ImagePair]:
    """NTIRE 2020 Track 1 validation: Corrupted-va-x (LR) + DIV2K_valid_HR 0801-0900."""
    return _source_target(root, split, scale, "ntire2020", problems)


def aim2019(
    root: Path, *, split: str = "valid", scale: int = 4, problems: list[str] | None = None
) -> list[ImagePair]:
    """AIM 2019 Track 1 validation, same layout as NTIRE 2020 Track 1."""
    return _source_target(root, split, scale, "aim2019", problems)


def _bicubic_pairs(
    root: Path, prefix: str, split: str, scale: int, problems: list[str] | None
) -> list[ImagePair]:
    folder = f"{prefix}_{split}" if split else prefix
    return match_by_name(
        root / f"{folder}_LR_bicubic" / f"X{scale}",
        root / f"{folder}_HR",
        scale=scale,
        lr_name=lambda stem: f"{stem}x{scale}",
        problems=problems,
    )


def div2k(
    root: Path, *, split: str = "train", scale: int = 4, problems: list[str] | None = None
) -> list[ImagePair]:
    """DIV2K_{train,valid}_HR + DIV2K_{train,valid}_LR_bicubic/X{scale}/NNNNx{scale}.png."""
    _split(split, ("train", "valid"), "div2k")
    return _bicubic_pairs(root, "DIV2K", split, scale, problems)


def flickr2k(
    root: Path, *, split: str = "all", scale: int = 4, problems: list[str] | None = None
) -> list[ImagePair]:
    """Flickr2K_HR + Flickr2K_LR_bicubic/X{scale}/NNNNNNx{scale}.png."""
    _split(split, ("all",), "flickr2k")
    return _bicubic_pairs(root, "Flickr2K", "", scale, problems)


LAYOUTS: dict[str, Callable[..., list[ImagePair]]] = {
    "paired": paired,
    "city100": city100,
    "realsr": realsr,
    "ntire2020": ntire2020,
    "aim2019": aim2019,
    "div2k": div2k,
    "flickr2k": flickr2k,
    "clean": clean,
}


def load_pairs(
    root: str | os.PathLike[str],
    *,
    layout: str = "paired",
    split: str | None = None,
    scale: int | None = None,
    check: bool = True,
    problems: list[str] | None = None,
) -> list[ImagePair]:
    """The pairs of data set `root` in `layout`, split by name; each layout has its defaults.

    With `check`, every file header is read to verify sizes (fast: no pixels are decoded).
    A missing partner or a size mismatch raises InputError (training data must be complete);
    with a `problems` list, it is listed there and only that pair is left out (evaluation).
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown data set layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: data set folder does not exist")
    options = {k: v for k, v in (("split", split), ("scale", scale)) if v is not None}
    pairs = LAYOUTS[layout](root, **options, problems=problems)
    return check_pairs(pairs, where=root, problems=problems) if check else pairs


def _split(split: str, valid: tuple[str, ...], layout: str) -> None:
    if split not in valid:
        raise ConfigError(f"{layout} has no split {split!r}; valid: {', '.join(valid)}")


def _partner(
    hr: Path, stem: str, listing: dict[str, Path], problems: list[str] | None
) -> Path | None:
    """The file `stem` + HR's suffix (any case) in `listing` (lower-case name -> path)."""
    found = listing.get(f"{stem}{hr.suffix}".lower())
    if found is None:
        _report(f"{hr}: no LR partner {stem}{hr.suffix} in {hr.parent}", problems)
    return found


def _listing(folder: Path) -> dict[str, Path]:
    return {path.name.lower(): path for path in folder.iterdir()}
