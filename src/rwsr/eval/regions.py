"""Which region of a test image the crop figures show: the square of most detail in HR
(largest mean gradient), where methods differ most visibly."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_BOX, MAX_BOX = 32, 192


@dataclass(frozen=True)
class Box:
    """A square region: top-left corner (x, y) and side, in HR pixels."""

    x: int
    y: int
    size: int

    def cut(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image[self.y : self.y + self.size, self.x : self.x + self.size])


def detail_box(hr: np.ndarray) -> Box:
    """The square (a third of the shorter side, 32-192 px) with the largest mean gradient."""
    height, width = hr.shape[:2]
    size = int(np.clip(min(height, width) // 3, min(MIN_BOX, height, width), MAX_BOX))
    gray = cv2.cvtColor(hr[:, :, :3], cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    # Sum over every size x size window via the integral image; index = top-left corner.
    integral = cv2.integral(energy, sdepth=cv2.CV_64F)
    sums = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return Box(x=int(x), y=int(y), size=size)
