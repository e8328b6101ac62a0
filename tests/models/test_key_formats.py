"""Key-format detection by required key sets (rwsr.models.key_formats): each format found in a
file the test writes, and a file that lacks required keys refused naming the nearest format
and the keys it lacks, in the file's own names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from foreign_keys import official, old_esrgan  # tests/models/foreign_keys.py
from safetensors.torch import save_file

from rwsr.errors import CheckpointError
from rwsr.models.checkpoint import load_model
from rwsr.models.compact import CompactConfig, SRVGGNetCompact
from rwsr.models.edl import RWSREDL, EDLHeadConfig, RWSREDLConfig
from rwsr.models.key_formats import KEY_FORMATS, UnknownKeyFormatError, detect_key_format
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

TRUNK = RRDBNetConfig(nf=8, nb=1, gc=4, scale=2)
EDL = RWSREDLConfig(rrdb=TRUNK, head=EDLHeadConfig(nf=4, blocks=1))
COMPACT = CompactConfig(nf=8, num_conv=1, scale=2)
IMAGE = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(5))


def _basicsr() -> tuple[torch.nn.Module, dict]:
    model = RRDBNet(TRUNK)
    return model, model.state_dict()


def _official() -> tuple[torch.nn.Module, dict]:
    model = RRDBNet(TRUNK)
    return model, official(model.state_dict())


def _esrgan_old() -> tuple[torch.nn.Module, dict]:
    model = RRDBNet(TRUNK)
    return model, old_esrgan(model.state_dict(), nb=1, stages=1)


def _rwsr_edl() -> tuple[torch.nn.Module, dict]:
    model = RWSREDL(EDL)
    return model, model.state_dict()


def _compact() -> tuple[torch.nn.Module, dict]:
    model = SRVGGNetCompact(COMPACT)
    return model, model.state_dict()


# Each format's file: the model it holds and its state dict under the format's names.
FILES: dict[str, Callable[[], tuple[torch.nn.Module, dict]]] = {
    "official": _official,
    "esrgan-old": _esrgan_old,
    "basicsr": _basicsr,
    "rwsr-edl": _rwsr_edl,
    "compact": _compact,
}
# A required key of each format (in the file's names) that today's one-marker-key detection
# did not look for.
DROPPED = {
    "official": "trunk_conv.weight",
    "esrgan-old": "model.1.sub.0.RDB3.conv5.0.weight",
    "basicsr": "conv_body.weight",
    "rwsr-edl": "rrdb.conv_hr.weight",
    "compact": "body.1.weight",
}
# The one key (two for esrgan-old) by which each format was recognised before its key sets.
OLD_MARKERS = {
    "official": ("RRDB_trunk.0.RDB1.conv1.weight",),
    "esrgan-old": ("model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"),
    "basicsr": ("body.0.rdb1.conv1.weight",),
    "rwsr-edl": ("rrdb.body.0.rdb1.conv1.weight",),
}


def _save(state: dict, path: Path) -> Path:
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))  # no rwsr metadata
    else:
        torch.save(state, path)
    return path


def test_every_key_format_has_a_file_here() -> None:
    assert [f.name for f in KEY_FORMATS] == list(FILES)
    assert set(DROPPED) == set(FILES)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", list(FILES))
def test_each_key_format_is_detected_and_loads(name: str, suffix: str, tmp_path: Path) -> None:
    model, state = FILES[name]()
    loaded = load_model(_save(state, tmp_path / f"{name}{suffix}"))
    assert loaded.key_format == name
    assert loaded.config == model.config
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(IMAGE), model.eval()(IMAGE))


@pytest.mark.parametrize("name", list(FILES))
def test_a_missing_required_key_is_named_with_the_nearest_format(name: str, tmp_path: Path) -> None:
    """Spandrel tries the file too (and, for esrgan-old and compact, detects its own ESRGAN
    or Compact and fails): the error still says what rwsr's format lacks."""
    _, state = FILES[name]()
    dropped = DROPPED[name]
    del state[dropped]
    path = _save(state, tmp_path / f"{name}.pth")
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a recognised")
    assert f"Nearest key format: {name} (" in message
    assert f"lacks {dropped}" in message


@pytest.mark.parametrize("name", list(OLD_MARKERS))
def test_a_file_with_only_the_old_marker_key_is_no_file_of_the_format(
    name: str, tmp_path: Path
) -> None:
    """Detection by one marker key took such a file for the format and failed later, naming
    rwsr's converted keys (or none of the format); now the error names the format and the
    keys the file lacks."""
    _, state = FILES[name]()
    markers = OLD_MARKERS[name]
    path = _save({key: state[key] for key in markers}, tmp_path / "marker.pth")
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    message = str(caught.value)
    key_format = next(f for f in KEY_FORMATS if f.name == name)
    lacking = sorted(key_format.required - set(markers))
    assert f"Nearest key format: {name} (" in message
    assert f"lacks {', '.join(lacking[:4])}" in message


def test_generic_body_keys_are_compact_only_when_nothing_else_is_there() -> None:
    _, state = _compact()
    assert detect_key_format(state).name == "compact"
    state["upsampler.weight"] = torch.zeros(1)
    with pytest.raises(UnknownKeyFormatError, match=r"compact .*outside it: upsampler\.weight"):
        detect_key_format(state)


def test_a_file_of_no_format_names_no_nearest() -> None:
    with pytest.raises(UnknownKeyFormatError) as caught:
        detect_key_format({"encoder.weight": torch.zeros(1)}, "other.pth")
    message = str(caught.value)
    assert "first keys: encoder.weight" in message and "Nearest" not in message
    assert all(f.name in message for f in KEY_FORMATS)
