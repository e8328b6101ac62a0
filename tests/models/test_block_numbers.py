"""Crafted block numbers in a checkpoint's keys: refused at once, without building a range as
long as the number (a `body.99999999999999999999.` key once needed more memory than the host)."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rwsr.errors import CheckpointError
from rwsr.models.checkpoint import load_model
from rwsr.models.key_formats import convert_to_native
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig
from rwsr.models.shapes import count_indices

# Python ints cost 28+ bytes each: a range of a million block numbers held in a set is tens
# of megabytes, the keys of a tiny network a few kilobytes.
HUGE = 10**6
PEAK_BYTES = 2_000_000


def _basicsr(index: int) -> dict[str, torch.Tensor]:
    """A 1-block RRDBNet whose block is also stored under number `index`."""
    state = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4, scale=1)).state_dict()
    return state | {
        k.replace("body.0.", f"body.{index}."): v for k, v in state.items() if "body.0." in k
    }


def _old_esrgan(index: int) -> dict[str, torch.Tensor]:
    """The same in the original ESRGAN key format (model.1.sub.N.RDBK.convJ.0)."""
    renamed = {
        re.sub(r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"model.1.sub.\1.RDB\2.conv\3.0.", k): v
        for k, v in _basicsr(index).items()
    }
    return {
        ("model.0." + k[len("conv_first.") :] if k.startswith("conv_first.") else k): v
        for k, v in renamed.items()
    }


def _peak_while_refused(action: Callable[[], object]) -> tuple[int, str]:
    """Peak Python memory while `action` runs, and the message of the error it must raise."""
    tracemalloc.start()
    try:
        with pytest.raises((CheckpointError, ValueError)) as caught:
            action()
        return tracemalloc.get_traced_memory()[1], str(caught.value)
    finally:
        tracemalloc.stop()


def test_the_missing_block_is_found_without_a_range_of_the_largest_number() -> None:
    state = _basicsr(HUGE)
    peak, message = _peak_while_refused(lambda: count_indices(state, r"^body\.(\d+)\."))
    assert "block 1 is missing" in message and peak < PEAK_BYTES


@pytest.mark.parametrize("make", [_basicsr, _old_esrgan], ids=["basicsr", "esrgan-old"])
@pytest.mark.parametrize("index", [HUGE, 10**20])
def test_every_key_format_refuses_a_crafted_block_number_naming_the_file(
    make: Callable[[int], dict[str, torch.Tensor]], index: int, tmp_path: Path
) -> None:
    path = tmp_path / "crafted.pth"
    torch.save(make(index), path)
    peak, message = _peak_while_refused(lambda: load_model(path))
    assert re.match(rf"{re.escape(str(path))}: .*block 1 is missing", message), message
    assert peak < PEAK_BYTES


def test_a_crafted_init_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    """Training reads `model.init_from` through convert_to_native too: its gap in the block
    numbers is a CheckpointError naming the file, not a ValueError traceback."""
    path = tmp_path / "init.pth"
    with pytest.raises(CheckpointError, match=r"init\.pth: .*block 1 is missing"):
        convert_to_native(_old_esrgan(5), path)
