"""The paper's opinion scale: six levels, side by side with the reference, lower is better."""

from __future__ import annotations

LABELS: tuple[str, ...] = (
    "Perfect",
    "Almost Perfect",
    "Slightly Worse",
    "Worse",
    "Much Worse",
    "Terrible",
)
"""Label of score i is LABELS[i] (paper Sec. IV-A)."""

MIN_SCORE = 0
MAX_SCORE = len(LABELS) - 1
