"""Reading and writing generator/discriminator weights files, and loading a model from one.

A weights file is any file of a model's tensors: rwsr safetensors, a foreign .pth, or a
training checkpoint, read for its generator (the whole training state, optimisers and all,
is rwsr.train.state's and rwsr.train.distill's to read).

rwsr's own format is safetensors with the model config (JSON) in the file's metadata, so a
file alone rebuilds the model. Foreign RRDB/EDL and Real-ESRGAN Compact checkpoints are
renamed by rwsr.models.key_formats and sized by rwsr.models.shapes; any other key set goes to
spandrel (rwsr.models.foreign), which knows the community architectures (SwinIR, HAT, DAT,
SPAN, ...). DataParallel/DDP `module.` and torch.compile `_orig_mod.`
prefixes are stripped here, and weights are found under `params_ema` (preferred), `params`
or the other STATE_CONTAINER_KEYS.

Pickled files (.pth/.pt/.ckpt) load only through torch.load(weights_only=True): a pickle that
carries code is refused. A partial match is never loaded silently.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from rwsr.atomic import atomic_path
from rwsr.errors import CheckpointError, ConfigError
from rwsr.models.catalog import ModelConfig, build_model, parse_model_config
from rwsr.models.edl import RWSREDL
from rwsr.models.foreign import SpandrelConfig, SpandrelGenerator, load_spandrel
from rwsr.models.key_formats import UnknownKeyFormatError, convert_to_native
from rwsr.models.rrdbnet import RRDBNet, unshuffled_conv_first
from rwsr.models.shapes import check_shapes, infer_config

FORMAT_NAME = "rwsr"
FORMAT_VERSION = "1"
PICKLE_SUFFIXES = frozenset({".pth", ".pt", ".ckpt", ".bin"})
# Containers that hold the weights, in order of preference (EMA weights are the better ones).
STATE_CONTAINER_KEYS = (
    "params_ema",  # BasicSR / Real-ESRGAN
    "params",
    "generator_ema",  # rwsr training checkpoints (None without EMA)
    "generator",
    "state_dict",
    "model_state_dict",
    "model",
)
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class KeyReport:
    """What a load matched: parameter names loaded, missing from the file, or left unused."""

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unexpected

    def summary(self, limit: int = 8) -> str:
        def names(keys: tuple[str, ...]) -> str:
            shown = ", ".join(keys[:limit])
            return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")

        parts = [f"loaded {len(self.loaded)}"]
        if self.missing:
            parts.append(f"missing {len(self.missing)} [{names(self.missing)}]")
        if self.unexpected:
            parts.append(f"unexpected {len(self.unexpected)} [{names(self.unexpected)}]")
        return "; ".join(parts)


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module
    config: ModelConfig
    # How the file names its tensors: rwsr's own ("rwsr safetensors v1", "rwsr training
    # checkpoint"), a name of rwsr.models.key_formats.KEY_FORMATS, or "spandrel: ARCH".
    key_format: str
    dtype: torch.dtype
    report: KeyReport
    metadata: dict[str, str]


# --------------------------------------------------------------------------- writing


def save_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    dtype: torch.dtype | None = None,
    overwrite: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write `model` (which must carry `.config`) as rwsr safetensors, atomically.

    `dtype` (e.g. torch.float16) converts floating-point tensors; `metadata` adds string
    entries such as the origin of the weights.
    """
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"Expected an rwsr model with a .config, but got {type(model).__name__}")
    # A spandrel model is stored under its own parameter names, which spandrel detects again.
    weights = model.net if isinstance(model, SpandrelGenerator) else model
    state = {}
    for key, tensor in weights.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        state[key] = tensor.contiguous().clone()
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config.model_dump_json(),
    }
    header.update(metadata or {})
    with atomic_path(path, overwrite=overwrite) as tmp:
        save_file(state, str(tmp), metadata=header)
        _make_header_canonical(tmp)


def _make_header_canonical(path: Path) -> None:
    """Rewrite a safetensors header as sorted, compact JSON padded to 8 bytes.

    safetensors writes the metadata in hash-map order, which changes from run to run; with a
    canonical header the same weights give the same bytes, so a file made again by the
    command in its NOTICE (or a zoo entry built on a user's machine) has the pinned SHA-256.
    The tensor data and their offsets (relative to the end of the header) are unchanged.
    """
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.dumps(json.loads(data[8 : 8 + length]), sort_keys=True, separators=(",", ":"))
    encoded = header.encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[8 + length :])


# --------------------------------------------------------------------------- reading


def read_weights_file(
    path: str | os.PathLike[str],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Raw tensors and (safetensors) metadata of a weights file (any format; of a training
    checkpoint, its generator's weights), with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".param" or (suffix == ".bin" and path.with_suffix(".param").exists()):
        raise CheckpointError(f"{path}: an ncnn model; convert it first with `rwsr convert ncnn`")
    if suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                metadata = dict(handle.metadata() or {})
                return {key: handle.get_tensor(key) for key in handle.keys()}, metadata  # noqa: SIM118 - safe_open is not a dict
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
            raise CheckpointError(
                f"{path}: corrupt or truncated safetensors file ({error})"
            ) from None
    if suffix in PICKLE_SUFFIXES:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - pickle, zip and EOF errors alike
            message = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            if "weights_only" in str(error) or "Unsupported global" in str(error):
                message = "the pickle contains objects other than tensors; rwsr loads weights only"
            raise CheckpointError(f"{path}: cannot load checkpoint: {message}") from None
        return _unwrap_state(loaded, path), _training_metadata(loaded)
    raise CheckpointError(
        f"{path}: unsupported checkpoint type '{suffix}'; expected .safetensors, .pth, .pt, .ckpt or .bin"
    )


def _training_metadata(loaded: object) -> dict[str, str]:
    """An rwsr training checkpoint stores its generator's config: read it like the metadata of
    rwsr safetensors, so the model is rebuilt as trained (x2 and x3 share every shape)."""
    if isinstance(loaded, Mapping) and isinstance(loaded.get("generator_config"), str):
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "config": loaded["generator_config"],
        }
    return {}


def _unwrap_state(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    """Find the state dict inside a training checkpoint and strip wrapper prefixes."""
    while isinstance(loaded, Mapping) and not any(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        inner = next(
            (loaded[k] for k in STATE_CONTAINER_KEYS if isinstance(loaded.get(k), Mapping)), None
        )
        if inner is None:
            raise CheckpointError(
                f"{path}: no weights found; top-level keys are {sorted(map(str, loaded))[:10]}"
            )
        loaded = inner
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"{path}: expected a state dict, but got {type(loaded).__name__}")
    state = {}
    for key, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            continue
        while key.startswith(WRAPPER_PREFIXES):
            key = next(key.removeprefix(p) for p in WRAPPER_PREFIXES if key.startswith(p))
        state[key] = value
    return state


def load_weights_into(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    path: str | os.PathLike[str] = "<state>",
) -> KeyReport:
    """Copy matching tensors into `model` and report the match.

    A bare RRDBNet state loads into an RWSR-EDL model's trunk (the head keeps its
    initialisation). With `strict`, any missing or unused key, or a shape mismatch, raises.
    """
    if isinstance(model, RWSREDL) and not any(k.startswith("rrdb.") for k in state):
        state = {f"rrdb.{k}": v for k, v in state.items()}
    own = model.state_dict()
    mismatched = [
        f"{k} (file {tuple(v.shape)}, model {tuple(own[k].shape)})"
        for k, v in state.items()
        if k in own and own[k].shape != v.shape
    ]
    if mismatched:
        raise CheckpointError(
            f"{path}: shape mismatch for {len(mismatched)} tensors: {', '.join(mismatched[:5])}"
        )
    loadable = {k: v for k, v in state.items() if k in own}
    report = KeyReport(
        loaded=tuple(sorted(loadable)),
        missing=tuple(sorted(set(own) - set(loadable))),
        unexpected=tuple(sorted(set(state) - set(own))),
    )
    if strict and not report.complete:
        raise CheckpointError(f"{path}: checkpoint does not match the model: {report.summary()}")
    model.load_state_dict(loadable, strict=False)
    return report


def non_finite_tensors(model: nn.Module) -> list[str]:
    """Names of the model's floating-point tensors (parameters and buffers) holding NaN/Inf."""
    return [
        key
        for key, tensor in model.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def check_finite_weights(model: nn.Module, name: object) -> None:
    """Refuse a model with NaN/Inf weights, naming the tensors: it can only output NaN or
    garbage, so whatever is made of it (a converted file, an export) would be broken too.
    `name` is how the user named the model (its file or zoo name)."""
    bad = non_finite_tensors(model)
    if bad:
        shown = ", ".join(bad[:4]) + (f", ... ({len(bad) - 4} more)" if len(bad) > 4 else "")
        raise CheckpointError(
            f"{name}: NaN/Inf weights in {len(bad)} of {len(model.state_dict())} tensors"
            f" ({shown}); the model is broken (a training that diverged?), use another checkpoint"
        )


def widen_for_unshuffle(
    model: nn.Module, state: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], str | None]:
    """`state` with a plain RRDB's conv_first widened to the model's pixel-unshuffled input
    (rwsr.models.rrdbnet.unshuffled_conv_first), and a line saying so (None: nothing to do).

    This is how a trained x4 RRDB starts `rwsr-edl-x1-unshuffle4`: every other tensor of that
    variant already has the x4 network's shape."""
    trunk = model.rrdb if isinstance(model, RWSREDL) else model
    if not isinstance(trunk, RRDBNet) or trunk.config.input_unshuffle == 1:
        return dict(state), None
    factor = trunk.config.input_unshuffle
    key = next((k for k in ("rrdb.conv_first.weight", "conv_first.weight") if k in state), None)
    if key is None or state[key].shape[1] * factor**2 != trunk.conv_first.in_channels:
        return dict(state), None
    widened = unshuffled_conv_first(state[key], factor)
    note = (
        f"conv_first widened from {state[key].shape[1]} to {widened.shape[1]} input channels"
        f" (each pixel-unshuffled copy gets 1/{factor**2} of the kernel: step 0 = the file's"
        f" network on the {factor}x{factor} box average)"
    )
    return {**state, key: widened}, note


def load_model(path: str | os.PathLike[str], *, scale: int | None = None) -> LoadedModel:
    """Rebuild a model from a checkpoint file alone (rwsr safetensors, a foreign RRDB key format,
    or any architecture spandrel detects)."""
    state, metadata = read_weights_file(path)
    if not state:
        raise CheckpointError(f"{path}: contains no tensors")
    dtype = next(iter(state.values())).dtype
    if metadata.get("format") == FORMAT_NAME:
        config = _stored_config(metadata, path)
        key_format = (
            f"rwsr safetensors v{metadata.get('format_version', '?')}"
            if Path(path).suffix.lower() == ".safetensors"
            else "rwsr training checkpoint"
        )
    else:
        try:
            key_format, state = convert_to_native(state, path)
            config = infer_config(state, scale=scale, path=path)
        except UnknownKeyFormatError as unknown:
            return _load_foreign(state, path, scale, dtype, metadata, unknown)
        except (ValidationError, ValueError) as error:  # sizes out of bounds, gaps in blocks
            raise CheckpointError(f"{path}: cannot read the architecture ({error})") from None
    if isinstance(config, SpandrelConfig):
        return _load_foreign(state, path, scale, dtype, metadata, None, expected=config)
    stored_scale = getattr(getattr(config, "rrdb", config), "scale", None)
    if scale is not None and stored_scale is not None and scale != stored_scale:
        raise CheckpointError(f"{path}: the model is x{stored_scale}, but x{scale} was requested")
    check_shapes(config, state, path)
    model = build_model(config)
    report = load_weights_into(model, state, strict=True, path=path)
    return LoadedModel(
        model=model.eval(),
        config=config,
        key_format=key_format,
        dtype=dtype,
        report=report,
        metadata=metadata,
    )


def _stored_config(metadata: Mapping[str, str], path: object) -> ModelConfig:
    if "config" not in metadata:
        raise CheckpointError(f"{path}: rwsr metadata without the model config")
    try:
        return parse_model_config(metadata["config"])
    except ConfigError as error:
        raise CheckpointError(
            f"{path}: the model config in its metadata is invalid ({error})"
        ) from None


def _load_foreign(
    state: dict[str, torch.Tensor],
    path: str | os.PathLike[str],
    scale: int | None,
    dtype: torch.dtype,
    metadata: dict[str, str],
    unknown: UnknownKeyFormatError | None,
    *,
    expected: SpandrelConfig | None = None,
) -> LoadedModel:
    """A model spandrel detects; `unknown` is rwsr's own error, raised when spandrel finds
    nothing either; `expected` is the config an rwsr file recorded for it."""
    try:
        model = load_spandrel(state, path)
    except CheckpointError:
        if unknown is None:
            raise
        # A file near one of rwsr's key formats (a key missing) can look like a spandrel
        # architecture that then fails to load: rwsr's account of what the file lacks is the
        # one to give, not the state-dict error of spandrel's network.
        raise CheckpointError(
            f"{unknown} (spandrel detects an architecture in it too, but cannot load it)"
        ) from None
    if model is None:
        if unknown is not None:
            raise CheckpointError(f"{unknown} (nor an architecture spandrel detects)") from None
        raise CheckpointError(
            f"{path}: spandrel no longer detects the stored {expected.architecture}"
        )
    found = model.config
    if expected is not None and (found.architecture, found.scale) != (
        expected.architecture,
        expected.scale,
    ):
        raise CheckpointError(
            f"{path}: the file says x{expected.scale} {expected.architecture}, but its weights"
            f" are a x{found.scale} {found.architecture}"
        )
    if scale is not None and scale != found.scale:
        raise CheckpointError(
            f"{path}: the weights are a x{found.scale} {found.architecture}, but x{scale} was requested"
        )
    key_format = "rwsr safetensors (spandrel architecture)" if expected else "spandrel"
    return LoadedModel(
        model=model,
        config=found,
        key_format=f"{key_format}: {found.architecture}",
        dtype=dtype,
        report=KeyReport(loaded=tuple(sorted(state)), missing=(), unexpected=()),
        metadata=metadata,
    )
