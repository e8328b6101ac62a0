"""The crop figures show the most detailed region of HR."""

from __future__ import annotations

import numpy as np

from rwsr.eval.regions import detail_box


def test_box_lands_on_the_only_textured_square() -> None:
    image = np.full((300, 450, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    image[180:280, 40:140] = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    box = detail_box(image)
    assert box.size == 100  # a third of the shorter side
    assert (box.x, box.y) == (40, 180)
    assert box.cut(image).shape == (100, 100, 3)


def test_small_images_get_a_box_that_fits() -> None:
    box = detail_box(np.zeros((20, 50, 3), np.uint8))
    assert box.size == 20 and box.x + box.size <= 50 and box.y + box.size <= 20
