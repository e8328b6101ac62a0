"""Pairing each reference image with the matching output of every method.

Methods name their outputs differently (`0801.png`, `0801_x4_SR.png`, `Canon_001_SR.png`
for `Canon_001_HR.png`, `001L_out.png` for City100's `001H.PNG`), so a method file matches
a reference when its stem equals the reference key or starts with it followed by a
character that cannot continue the key. The key is the reference stem without a trailing
HR tag (`_HR`, `-HR`, `_GT`, `-GT`, or `H` after a digit). File-name patterns pick the
images out of folders holding more (RealSR's `*_HR.png` beside `*_LR4.png`, City100's
`*H.PNG` beside `*L.PNG`). Every match must be unique and
every reference image must be found in every method folder: a study silently missing
images would bias the scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rwsr.errors import InputError
from rwsr.imageio import is_image_path
from rwsr.mos.config import MethodSource

_HR_TAG = re.compile(r"(?:[_-](?:HR|hr|GT|gt)|(?<=\d)H)$")
_SEPARATORS = frozenset("_-. ")


@dataclass(frozen=True)
class ImageSet:
    """One scene: the reference file and each method's output of it, by method name."""

    key: str
    reference: Path
    outputs: dict[str, Path]


def reference_key(stem: str) -> str:
    """The part of a reference stem that method outputs are expected to start with."""
    return _HR_TAG.sub("", stem) or stem


def matches(key: str, stem: str) -> bool:
    """Whether a method output named `stem` belongs to the reference with `key`."""
    if stem == key:
        return True
    if not stem.startswith(key):
        return False
    follower = stem[len(key)]
    return follower in _SEPARATORS or (key[-1].isdigit() and not follower.isdigit())


def list_images(directory: Path, pattern: str, *, what: str) -> list[Path]:
    """Image files directly inside `directory` whose names match `pattern`, sorted by name."""
    if not directory.is_dir():
        raise InputError(f"{directory}: {what} folder does not exist or is not a folder")
    images = sorted(
        path
        for path in directory.glob(pattern)
        if path.is_file() and is_image_path(path) and not path.name.startswith(".")
    )
    if not images:
        matching = "" if pattern == "*" else f" matching {pattern!r}"
        raise InputError(
            f"{directory}: {what} folder holds no images{matching} (png, jpg, tif, webp, bmp)"
        )
    return images


def match_images(
    reference: Path, methods: tuple[MethodSource, ...], *, pattern: str = "*"
) -> list[ImageSet]:
    """Every reference image (those matching `pattern`) with its output from each method,
    in reference-name order."""
    references = list_images(reference, pattern, what="reference")
    keys = [reference_key(path.stem) for path in references]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise InputError(
            f"{reference}: several reference images share the key(s) {', '.join(repeated)}; "
            "method outputs could not be told apart"
        )
    outputs: dict[str, dict[str, Path]] = {key: {} for key in keys}
    for method in methods:
        candidates = list_images(method.directory, method.pattern, what=f"method {method.name!r}")
        missing: list[str] = []
        for key, ref_path in zip(keys, references):
            found = [path for path in candidates if matches(key, path.stem)]
            exact = [path for path in found if path.stem == key]
            if len(exact) == 1:
                found = exact
            if not found:
                missing.append(ref_path.name)
            elif len(found) > 1:
                names = ", ".join(path.name for path in found)
                raise InputError(
                    f"{method.directory}: several files of method {method.name!r} match "
                    f"reference {ref_path.name}: {names}; keep one"
                )
            else:
                outputs[key][method.name] = found[0]
        if missing:
            shown = ", ".join(missing[:5])
            if len(missing) > 5:
                shown += f" and {len(missing) - 5} more"
            raise InputError(
                f"{method.directory}: method {method.name!r} has no output for {len(missing)} "
                f"reference image(s): {shown}"
            )
    return [
        ImageSet(key=key, reference=path, outputs=outputs[key])
        for key, path in zip(keys, references)
    ]
