"""Built-in architecture names and the one place that turns a config into a module.

An explicit table, no import-time registry: `architecture_config("rwsr-edl-x4")` gives the
config, `build_model(config)` the nn.Module.
"""

from __future__ import annotations

import difflib
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError
from torch import nn

from rwsr.errors import ConfigError
from rwsr.models.compact import CompactConfig, SRVGGNetCompact
from rwsr.models.discriminators import VGG128, PatchGAN, PatchGANConfig, VGG128Config
from rwsr.models.edl import RWSREDL, EDLHeadConfig, RWSREDLConfig
from rwsr.models.foreign import SPANDREL_VERSION, SpandrelConfig
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

ModelConfig = Annotated[
    RRDBNetConfig | RWSREDLConfig | CompactConfig | PatchGANConfig | VGG128Config | SpandrelConfig,
    Field(discriminator="arch"),
]
_CONFIG_ADAPTER: TypeAdapter[ModelConfig] = TypeAdapter(ModelConfig)

_OFFICIAL_HEAD = EDLHeadConfig(variant="official")

BUILTIN_ARCHITECTURES: dict[str, ModelConfig] = {
    "rrdbnet-x4": RRDBNetConfig(scale=4),
    "rrdbnet-x3": RRDBNetConfig(scale=3),
    "rrdbnet-x2": RRDBNetConfig(scale=2),
    "rrdbnet-x1": RRDBNetConfig(scale=1),
    # Real-ESRGAN's x2/x1 variants: the trunk runs on the pixel-unshuffled image (1/4 or 1/16
    # of the pixels), then up-samples by 4; every tensor but conv_first has a x4 RRDB's shape.
    "rrdbnet-x2-unshuffle2": RRDBNetConfig(scale=2, input_unshuffle=2),
    "rrdbnet-x1-unshuffle4": RRDBNetConfig(scale=1, input_unshuffle=4),
    "rwsr-edl-x4": RWSREDLConfig(rrdb=RRDBNetConfig(scale=4)),
    "rwsr-edl-x3": RWSREDLConfig(rrdb=RRDBNetConfig(scale=3)),
    "rwsr-edl-x2": RWSREDLConfig(rrdb=RRDBNetConfig(scale=2)),
    "rwsr-edl-x1": RWSREDLConfig(rrdb=RRDBNetConfig(scale=1)),
    # x1 at 1/16 of the paper's trunk cost: the trunk on the 4x4-unshuffled photo, the head at
    # full resolution (rwsr's CPU variant; the paper's x1 is rwsr-edl-x1).
    "rwsr-edl-x1-unshuffle4": RWSREDLConfig(rrdb=RRDBNetConfig(scale=1, input_unshuffle=4)),
    "rwsr-edl-official-x4": RWSREDLConfig(rrdb=RRDBNetConfig(scale=4), head=_OFFICIAL_HEAD),
    "rwsr-edl-official-x1": RWSREDLConfig(rrdb=RRDBNetConfig(scale=1), head=_OFFICIAL_HEAD),
    # Real-ESRGAN's compact network (realesr-general-x4v3's sizes): ~15x fewer FLOPs than x4.
    "compact-x4": CompactConfig(),
    "patchgan": PatchGANConfig(),
    "vgg128": VGG128Config(),
}


def architecture_config(name: str) -> ModelConfig:
    """Config of a built-in architecture; an unknown name lists the valid ones."""
    try:
        return BUILTIN_ARCHITECTURES[name]
    except KeyError:
        close = difflib.get_close_matches(name, BUILTIN_ARCHITECTURES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"Unknown architecture '{name}'.{hint} Built-in: {', '.join(BUILTIN_ARCHITECTURES)}"
        ) from None


def parse_model_config(text: str) -> ModelConfig:
    """Config from its JSON form (as stored in checkpoint metadata)."""
    try:
        return _CONFIG_ADAPTER.validate_json(text)
    except ValidationError as error:
        raise ConfigError(f"Invalid model config: {error}") from None


def build_model(config: ModelConfig) -> nn.Module:
    if isinstance(config, RRDBNetConfig):
        return RRDBNet(config)
    if isinstance(config, RWSREDLConfig):
        return RWSREDL(config)
    if isinstance(config, CompactConfig):
        return SRVGGNetCompact(config)
    if isinstance(config, PatchGANConfig):
        return PatchGAN(config)
    if isinstance(config, VGG128Config):
        return VGG128(config)
    if isinstance(config, SpandrelConfig):
        raise ConfigError(
            f"a {config.architecture} model is built by spandrel from its weights, not from a config"
        )
    raise TypeError(f"Expected a model config, but got {type(config).__name__}")


def generator_scale(config: ModelConfig) -> int:
    """Output/input size ratio of a generator config."""
    if isinstance(config, RWSREDLConfig):
        return config.rrdb.scale
    if isinstance(config, RRDBNetConfig | CompactConfig | SpandrelConfig):
        return config.scale
    raise ConfigError(f"'{config.arch}' is a discriminator, not a generator")


def describe(config: ModelConfig) -> dict[str, object]:
    """Human-facing summary used by `rwsr info` (architecture, variant, sizes)."""
    if isinstance(config, RWSREDLConfig):
        rrdb = config.rrdb
        trunk = (
            ""
            if rrdb.input_unshuffle == 1
            else f", trunk on pixel-unshuffle {rrdb.input_unshuffle}"
        )
        return {
            "architecture": "rwsr-edl",
            "variant": f"{config.head.variant} head ({config.head.init} init){trunk}",
            "scale": rrdb.scale,
            "nb/nf/gc": f"{rrdb.nb}/{rrdb.nf}/{rrdb.gc}",
        }
    if isinstance(config, RRDBNetConfig):
        variant = (
            "plain" if config.input_unshuffle == 1 else f"pixel-unshuffle {config.input_unshuffle}"
        )
        return {
            "architecture": "rrdbnet",
            "variant": variant,
            "scale": config.scale,
            "nb/nf/gc": f"{config.nb}/{config.nf}/{config.gc}",
        }
    if isinstance(config, CompactConfig):
        return {
            "architecture": "compact (Real-ESRGAN SRVGGNetCompact)",
            "variant": f"{config.act_type}, pixel shuffle",
            "scale": config.scale,
            "nf/num_conv": f"{config.nf}/{config.num_conv}",
        }
    if isinstance(config, SpandrelConfig):
        return {
            "architecture": f"{config.architecture} (detected by spandrel {SPANDREL_VERSION})",
            "variant": f"{config.purpose}" + (f", {' '.join(config.tags)}" if config.tags else ""),
            "scale": config.scale,
            "low precision": ", ".join(
                name
                for name, ok in (("fp16", config.supports_half), ("bf16", config.supports_bfloat16))
                if ok
            )
            or "none (fp32 only)",
        }
    return {"architecture": config.arch, "variant": "discriminator", "nf": config.nf}
