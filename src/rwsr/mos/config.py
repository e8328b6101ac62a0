"""What defines a MOS study: the images compared and how trials are drawn from them.

The config is stored in the study database, so a restarted server (or a report) knows
exactly which study it holds, and a second `serve` with different options is caught.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_METHOD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+()\-]{0,63}$")


def _file_pattern(pattern: str) -> str:
    """A glob over file names in one folder (RealSR keeps HR and LR side by side)."""
    if not pattern or "/" in pattern or "\\" in pattern:
        raise ValueError(
            f"file pattern {pattern!r} must be a non-empty name pattern like '*_HR.png'"
        )
    return pattern


class MethodSource(BaseModel):
    """One method under test: a display name (hidden from raters), its output folder, and
    which files in it are outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    directory: Path
    pattern: str = "*"

    _pattern = field_validator("pattern")(_file_pattern)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _METHOD_NAME.fullmatch(name):
            raise ValueError(
                f"method name {name!r} must start with a letter or digit and use at most 64 "
                "letters, digits, spaces or . _ + ( ) -"
            )
        return name


class StudyConfig(BaseModel):
    """A study: every method's patch is rated against the reference patch at the same place.

    Defaults follow the paper's protocol as far as it is stated (patches side by side with
    the reference); `patches_per_rater=None` means every rater rates every trial.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: Path
    reference_pattern: str = "*"
    methods: tuple[MethodSource, ...] = Field(min_length=1)
    # At most 10,000: each is stored once per method and placed by up to 200 random draws,
    # and 10,000 patches are already far more than any panel of raters can rate.
    patches: int = Field(default=100, ge=1, le=10_000)
    # 128 px at the HR resolution: large enough to judge texture, small enough for a laptop.
    patch_size: int = Field(default=128, ge=8, le=2048)
    # A rater sees this many patches, each once per method (paired design); None: all patches.
    patches_per_rater: int | None = Field(default=None, ge=1)
    # Without revisions the first answer stands, as in a classic absolute-category-rating test.
    allow_revisions: bool = False
    # numpy's generator takes any seed >= 0; 32 bits, as every other seed of rwsr.
    seed: int = Field(default=0, ge=0, le=2**32 - 1)

    _reference_pattern = field_validator("reference_pattern")(_file_pattern)

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        names = [method.name for method in self.methods]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"method names must be unique; repeated: {', '.join(duplicates)}")
        if self.patches_per_rater is not None and self.patches_per_rater > self.patches:
            raise ValueError(
                f"patches_per_rater ({self.patches_per_rater}) exceeds patches ({self.patches})"
            )
        return self

    def differences(self, other: StudyConfig) -> list[str]:
        """Human-readable list of fields where `other` differs from this config."""
        mine, theirs = self.model_dump(mode="json"), other.model_dump(mode="json")
        return [
            f"{key}: {mine[key]!r} (stored) vs {theirs[key]!r} (given)"
            for key in mine
            if mine[key] != theirs[key]
        ]
