"""Where the patches come from: spread over the images, random within each image.

Positions are drawn once, when the study is built, and stored; every method and every
rater then sees the same places.
"""

from __future__ import annotations

import numpy as np

_TRIES_PER_PATCH = 200


def allocate(total: int, images: int, rng: np.random.Generator) -> list[int]:
    """Patches per image: as even as possible, the remainder going to randomly chosen images."""
    counts = [total // images] * images
    for index in rng.choice(images, size=total % images, replace=False):
        counts[int(index)] += 1
    return counts


def sample_positions(
    height: int, width: int, size: int, count: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """`count` top-left corners (y, x) of size×size patches inside a height×width image.

    Patches do not overlap while random draws can place them apart; once an image is too
    crowded for that, overlap is accepted rather than failing (the caller checked that at
    least one patch fits). A patch that overlaps (y, x) has its corner in the 3×3 grid cells
    of side `size` around it, so each draw is checked against those cells only, not against
    every patch so far: time grows with `count`, not with its square.
    """
    taken: list[tuple[int, int]] = []
    cells: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for _ in range(count):
        for attempt in range(_TRIES_PER_PATCH):
            y = int(rng.integers(0, height - size + 1))
            x = int(rng.integers(0, width - size + 1))
            row, col = y // size, x // size
            near = (
                spot
                for dy in (0, -1, 1)  # its own cell first: in a crowded image it decides
                for dx in (0, -1, 1)
                for spot in cells.get((row + dy, col + dx), ())
            )
            apart = all(abs(y - ty) >= size or abs(x - tx) >= size for ty, tx in near)
            if apart or attempt == _TRIES_PER_PATCH - 1:
                break
        taken.append((y, x))
        cells.setdefault((y // size, x // size), []).append((y, x))
    return taken
