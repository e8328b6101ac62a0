"""Checkpoint round trips, every foreign key format, and bad files."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import torch
from foreign_keys import official, old_esrgan  # tests/models/foreign_keys.py
from safetensors.torch import save_file
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import CheckpointError
from rwsr.models.checkpoint import load_model, load_weights_into, save_model
from rwsr.models.edl import RWSREDL, EDLHeadConfig, RWSREDLConfig
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

TRUNK = RRDBNetConfig(nf=16, nb=2, gc=8)
IMAGE = torch.rand(1, 3, 8, 10, generator=torch.Generator().manual_seed(3))


def _output(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(IMAGE)


def test_safetensors_round_trip_rebuilds_from_file_alone(tmp_path: Path) -> None:
    config = RWSREDLConfig(
        rrdb=RRDBNetConfig(nf=16, nb=2, gc=8, scale=2), head=EDLHeadConfig(nf=8, blocks=2)
    )
    model = RWSREDL(config)
    with torch.no_grad():
        for parameter in model.head.parameters():
            parameter.add_(0.05)
    path = tmp_path / "g.safetensors"
    save_model(model, path, metadata={"source": "test"})
    loaded = load_model(path)
    assert loaded.config == config
    assert loaded.key_format.startswith("rwsr safetensors")
    assert loaded.metadata["source"] == "test"
    assert loaded.report.complete
    torch.testing.assert_close(_output(loaded.model), _output(model), rtol=0, atol=0)


def test_requested_scale_must_match_an_rwsr_file(tmp_path: Path) -> None:
    save_model(RRDBNet(TRUNK), tmp_path / "x4.safetensors")
    with pytest.raises(CheckpointError, match="the model is x4, but x3 was requested"):
        load_model(tmp_path / "x4.safetensors", scale=3)


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    save_model(RRDBNet(TRUNK), path)
    before = path.read_bytes()
    with pytest.raises(Exception, match="already exists"):
        save_model(RRDBNet(TRUNK), path)
    assert path.read_bytes() == before
    save_model(RRDBNet(TRUNK), path, overwrite=True)
    assert path.read_bytes() != before


def test_fp16_storage_loads_close(tmp_path: Path) -> None:
    model = RRDBNet(TRUNK)
    save_model(model, tmp_path / "h.safetensors", dtype=torch.float16)
    loaded = load_model(tmp_path / "h.safetensors")
    assert loaded.dtype == torch.float16
    torch.testing.assert_close(_output(loaded.model), _output(model), atol=2e-3, rtol=0)


def test_basicsr_prefers_params_ema(tmp_path: Path) -> None:
    ema, raw = RRDBNet(TRUNK), RRDBNet(TRUNK)
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, tmp_path / "net_g.pth")
    loaded = load_model(tmp_path / "net_g.pth")
    assert loaded.key_format == "basicsr"
    assert loaded.config == TRUNK
    torch.testing.assert_close(_output(loaded.model), _output(ema), rtol=0, atol=0)


def test_dataparallel_prefix_inside_container(tmp_path: Path) -> None:
    model = RRDBNet(TRUNK)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "iter": 5}, tmp_path / "dp.pt")
    torch.testing.assert_close(_output(load_model(tmp_path / "dp.pt").model), _output(model))


def test_realesrgan_pixel_unshuffle_x2(tmp_path: Path) -> None:
    config = RRDBNetConfig(nf=16, nb=2, gc=8, scale=2, input_unshuffle=2)
    model = RRDBNet(config)
    torch.save({"params_ema": model.state_dict()}, tmp_path / "x2.pth")
    loaded = load_model(tmp_path / "x2.pth")
    assert loaded.config == config
    torch.testing.assert_close(_output(loaded.model), _output(model))


@pytest.mark.parametrize("variant", ["official", "paper"])
def test_official_code_key_format_with_head(tmp_path: Path, variant: str) -> None:
    config = RWSREDLConfig(rrdb=TRUNK, head=EDLHeadConfig(variant=variant, init="default"))
    model = RWSREDL(config)
    torch.save(official(model.state_dict()), tmp_path / "edl.pth")
    loaded = load_model(tmp_path / "edl.pth")
    assert loaded.key_format == "official"
    assert loaded.config.head.variant == variant
    assert loaded.config.rrdb == TRUNK
    torch.testing.assert_close(_output(loaded.model), _output(model))


def test_realsr_plain_rrdb(tmp_path: Path) -> None:
    model = RRDBNet(TRUNK)
    torch.save(official(model.state_dict()), tmp_path / "realsr.pth")
    loaded = load_model(tmp_path / "realsr.pth")
    assert loaded.key_format == "official" and loaded.config == TRUNK
    torch.testing.assert_close(_output(loaded.model), _output(model))


@pytest.mark.parametrize(("scale", "stages"), [(4, 2), (2, 1), (1, 0)])
def test_old_esrgan_key_format(tmp_path: Path, scale: int, stages: int) -> None:
    config = RRDBNetConfig(nf=16, nb=3, gc=8, scale=scale)
    model = RRDBNet(config)
    torch.save(old_esrgan(model.state_dict(), nb=3, stages=stages), tmp_path / "old.pth")
    loaded = load_model(tmp_path / "old.pth")
    assert loaded.key_format == "esrgan-old"
    assert loaded.config == config
    torch.testing.assert_close(_output(loaded.model), _output(model))


def test_x3_needs_to_be_named(tmp_path: Path) -> None:
    model = RRDBNet(RRDBNetConfig(nf=16, nb=2, gc=8, scale=3))
    save_file(model.state_dict(), str(tmp_path / "x3.safetensors"))  # foreign: no rwsr metadata
    assert load_model(tmp_path / "x3.safetensors").config.scale == 2
    loaded = load_model(tmp_path / "x3.safetensors", scale=3)
    torch.testing.assert_close(_output(loaded.model), _output(model))


def test_bare_trunk_loads_into_edl_generator_with_report() -> None:
    trunk = RRDBNet(TRUNK)
    generator = RWSREDL(RWSREDLConfig(rrdb=TRUNK))
    report = load_weights_into(generator, trunk.state_dict(), strict=False)
    assert len(report.loaded) == len(trunk.state_dict())
    assert report.missing and all(k.startswith("head.") for k in report.missing)
    assert not report.unexpected
    torch.testing.assert_close(_output(generator), _output(trunk), atol=1e-6, rtol=0)
    with pytest.raises(CheckpointError, match="missing"):
        load_weights_into(generator, trunk.state_dict(), strict=True)


def test_partial_match_is_never_silent(tmp_path: Path) -> None:
    state = RRDBNet(TRUNK).state_dict()
    del state["body.1.rdb2.conv3.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(
        CheckpointError, match=r"partial\.pth.*missing 1 \[body\.1\.rdb2\.conv3\.weight\]"
    ):
        load_model(tmp_path / "partial.pth")
    state = RRDBNet(TRUNK).state_dict()
    state["extra.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"unexpected 1 \[extra\.weight\]"):
        load_model(tmp_path / "extra.pth")


def test_wrong_shapes(tmp_path: Path) -> None:
    state = RRDBNet(TRUNK).state_dict()
    state["conv_body.weight"] = torch.zeros(16, 16, 5, 5)
    torch.save(state, tmp_path / "shapes.pth")
    with pytest.raises(CheckpointError, match=r"shapes\.pth: shape mismatch .*conv_body\.weight"):
        load_model(tmp_path / "shapes.pth")


def test_unrecognised_key_format(tmp_path: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other\.pth: not a recognised .*encoder\.weight"):
        load_model(tmp_path / "other.pth")


class _Payload:
    def __reduce__(self):
        return (print, ("payload executed",))


def test_pickle_with_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"conv_first.weight": _Payload()}, handle, protocol=2)
    with pytest.raises(CheckpointError, match=r"evil\.pth: .*objects other than tensors"):
        load_model(path)
    assert "payload executed" not in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_and_empty_files(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    if suffix == ".pth":
        torch.save(RRDBNet(TRUNK).state_dict(), good)
    else:
        save_model(RRDBNet(TRUNK), good)
    data = good.read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    (tmp_path / f"empty{suffix}").write_bytes(b"")
    (tmp_path / f"noise{suffix}").write_bytes(b"\x89not a checkpoint at all" * 10)
    for name in ("cut", "empty", "noise"):
        with pytest.raises(CheckpointError, match=rf"{name}{re.escape(suffix)}: "):
            load_model(tmp_path / f"{name}{suffix}")


def test_cli_info_on_files(tmp_path: Path) -> None:
    model = RRDBNet(TRUNK)
    torch.save(official(model.state_dict()), tmp_path / "realsr.pth")
    result = CliRunner().invoke(app, ["info", str(tmp_path / "realsr.pth")])
    assert result.exit_code == 0, result.output
    assert "key format:" in result.output and "official" in result.output
    assert f"parameters: {sum(p.numel() for p in model.parameters()):,}" in " ".join(
        result.output.split()
    )
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["info", str(tmp_path / "bad.pth")])
    assert result.exit_code == 1
    assert "error:" in result.output and "bad.pth" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "head",
    [EDLHeadConfig(branches=1), EDLHeadConfig(mask="fixed")],
    ids=["single-branch", "fixed-mask"],
)
def test_ablation_heads_are_detected_from_shapes(tmp_path: Path, head: EDLHeadConfig) -> None:
    model = RWSREDL(RWSREDLConfig(rrdb=TRUNK, head=head.model_copy(update={"init": "default"})))
    save_file(model.state_dict(), str(tmp_path / "ablation.safetensors"))  # no rwsr metadata
    loaded = load_model(tmp_path / "ablation.safetensors")
    assert (loaded.config.head.branches, loaded.config.head.mask) == (head.branches, head.mask)
    torch.testing.assert_close(_output(loaded.model), _output(model))


def _tiny_state() -> dict[str, torch.Tensor]:
    return RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4, scale=1)).state_dict()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"format": "rwsr"}, "rwsr metadata without the model config"),
        ({"format": "rwsr", "config": "{not json"}, "the model config in its metadata is invalid"),
        (
            {"format": "rwsr", "config": '{"arch": "rrdbnet", "scale": 1, "nf": 4096, "nb": 200}'},
            "the model config in its metadata is invalid",
        ),
        (
            {
                "format": "rwsr",
                "config": RRDBNetConfig(nf=16, nb=1, gc=4, scale=1).model_dump_json(),
            },
            "shape mismatch with the model config",
        ),
    ],
)
def test_crafted_metadata_is_refused_before_anything_is_built(
    tmp_path: Path, metadata: dict[str, str], message: str
) -> None:
    path = tmp_path / "crafted.safetensors"
    save_file({k: v.contiguous() for k, v in _tiny_state().items()}, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_model(path)
    assert str(path) in str(caught.value)


def test_a_crafted_block_number_is_refused_at_once(tmp_path: Path) -> None:
    state = _tiny_state()
    state |= {k.replace("body.0.", "body.99999999."): v for k, v in state.items() if "body.0." in k}
    path = tmp_path / "crafted.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"crafted.pth: .*block 1 is missing"):
        load_model(path)


def test_the_same_weights_give_the_same_file_bytes(tmp_path: Path) -> None:
    """Canonical headers: a file made again by its documented command has the pinned hash."""
    torch.manual_seed(0)
    model = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4))
    metadata = {"source": "test", "b": "2", "a": "1", "origin": "x", "z": "last"}
    files = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for path in files:
        save_model(model, path, metadata=metadata)
    assert len({path.read_bytes() for path in files}) == 1
    assert load_model(files[0]).metadata["z"] == "last"


def test_the_authors_key_names_load_as_the_official_variant(tmp_path: Path) -> None:
    """The RWSR-EDL code's own state-dict names, written out here rather than made by rwsr's
    renaming (which the round-trip tests share with the loader), so a wrong rename cannot
    pass. One RRDB of 8 features (growth 4), x4, and the official head of 8 features."""
    rdb = {"conv1": 8, "conv2": 12, "conv3": 16, "conv4": 20, "conv5": 24}
    shapes: dict[str, tuple[int, ...]] = {"conv_first.weight": (8, 3, 3, 3)}
    for block in ("RDB1", "RDB2", "RDB3"):
        for conv, inputs in rdb.items():
            shapes[f"RRDB_trunk.0.{block}.{conv}.weight"] = (
                8 if conv == "conv5" else 4,
                inputs,
                3,
                3,
            )
    for name in ("trunk_conv", "upconv1", "upconv2", "HRconv"):
        shapes[f"{name}.weight"] = (8, 8, 3, 3)
    shapes["conv_last.weight"] = (3, 8, 3, 3)
    for stack in ("branch1", "branch2", "sm"):
        for k, inputs in enumerate((3, 8, 8)):
            shapes[f"{stack}.{k}.block.0.weight"] = (8, inputs, 3, 3)
            shapes[f"{stack}.{k}.block.2.weight"] = (8, 8, 3, 3)
            shapes[f"{stack}.{k}.conv.weight"] = (8, inputs, 1, 1)
    shapes["tail_conv1.weight"] = shapes["tail_conv2.weight"] = (3, 8, 3, 3)
    shapes |= {key.replace(".weight", ".bias"): (shape[0],) for key, shape in shapes.items()}
    assert len(shapes) == 2 * (1 + 15 + 5 + 27 + 2)
    # Each tensor holds its own value, so every one must arrive somewhere in the model.
    state = {key: torch.full(shape, float(i + 1)) for i, (key, shape) in enumerate(shapes.items())}
    torch.save(state, tmp_path / "authors.pth")
    loaded = load_model(tmp_path / "authors.pth")
    assert loaded.key_format == "official"
    assert loaded.config.head.variant == "official"
    assert loaded.config.rrdb == RRDBNetConfig(nf=8, nb=1, gc=4, scale=4)
    values = sorted(float(t.flatten()[0]) for t in loaded.model.state_dict().values())
    assert values == [float(i + 1) for i in range(len(shapes))]
