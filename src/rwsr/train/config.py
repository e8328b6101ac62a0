"""The training configuration: typed, frozen, validated before anything runs.

A run is described by one YAML file (see configs/) plus `key=value` overrides on the command
line (`optim.iterations=2000`, `loss.adv=0`). Unknown keys, wrong types, missing paths and
impossible combinations are reported together, one clear line each; an unknown key comes
with the closest valid names. Every number must be in its range and finite (`.nan` and `.inf`
are refused in every section, by one setting of _Section). The resolved config is stored in
every checkpoint.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rwsr.errors import ConfigError
from rwsr.models.edl import EDLHeadConfig
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.models.vgg import PERCEPTUAL_NETS
from rwsr.train.losses import Routing


class _Section(BaseModel):
    # A NaN or infinite weight or rate turns every weight NaN at the first step.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


Weight = Annotated[float, Field(ge=0)]
Beta = Annotated[float, Field(ge=0, lt=1)]


class SourceConfig(_Section):
    """One training data set. Its pairs are read in `layout` (rwsr.data.datasets.LAYOUTS);
    layout `clean` is a folder of clean photos that become pairs by the recipe of
    `rwsr.data.pairs.make_pair` (HR = the photo, LR = bicubic HR / scale; at x1, LR =
    bicubic up(down(HR, data.x1_blur), data.x1_blur))."""

    name: str | None = Field(None, description="label in the data report; None = the folder name")
    layout: str = Field("paired", description="data set layout (rwsr.data.datasets.LAYOUTS)")
    root: Path = Field(description="data set folder")
    split: str | None = Field(None, description="split name; None = the layout's default")
    scale: int | None = Field(None, ge=1, le=4, description="None = the layout's (or G's) scale")
    share: float | None = Field(
        None, gt=0, description="fraction of the samples drawn from this source; None = by size"
    )
    noise: bool = Field(True, description="inject bank noise into this source's LR crops")
    noise_bank: Path | None = Field(None, description="this source's own bank; None = data's")


class DataConfig(_Section):
    sources: list[SourceConfig] = Field(min_length=1, description="training data sets")
    noise_bank: Path | None = Field(None, description="bank from `rwsr noise collect`/`rwsr ngdc`")
    noise_probability: float = Field(1.0, ge=0, le=1)
    x1_blur: int = Field(2, ge=1, le=8, description="clean photos at x1: blur factor of the LR")
    hr_patch: int = Field(128, ge=8, description="HR crop side (LR = hr_patch / scale)")
    augment: bool = Field(True, description="flips and 90-degree rotations")
    batch_size: int = Field(
        16, ge=1, description="global: split evenly across the processes of torchrun"
    )
    workers: int | None = Field(
        None,
        ge=0,
        description="DataLoader worker processes, started once per run; None = 0 on a CPU"
        " (workers compete with the matrix units there), 4 on a GPU",
    )
    cache: Literal["auto", "memory", "disk", "none"] = Field(
        "auto",
        description="where decoded images are kept (rwsr.data.decoded_cache): memory (each"
        " process its own copy), disk (.npy files in cache_dir, memory-mapped: shared by every"
        " worker and process of the machine), none (every sample decodes its files); auto ="
        " memory for one process and a set within cache_memory_mb, else disk",
    )
    cache_dir: Path | None = Field(
        None,
        description="folder of the disk cache; None = $RWSR_CACHE_DIR/decoded or the user's"
        " cache folder",
    )
    cache_memory_mb: int = Field(
        2048, ge=0, description="auto keeps a set in memory up to this decoded size (MiB)"
    )

    @model_validator(mode="after")
    def _shares(self) -> DataConfig:
        given = [source.share is not None for source in self.sources]
        if any(given) and not all(given):
            raise ValueError("data.sources: give a share to every source or to none")
        return self


class ValidationConfig(_Section):
    layout: str = "paired"
    root: Path | None = Field(None, description="None = no validation")
    split: str | None = None
    scale: int | None = Field(None, ge=1, le=4)
    every: int = Field(5000, ge=1, description="iterations between validations")
    max_images: int | None = Field(None, ge=1)
    tile: int | None = Field(None, ge=32, description="tile size for large images")
    best_metric: Literal["psnr", "lpips"] = "psnr"
    crop_border: int = Field(
        4,
        ge=0,
        description="pixels removed from each edge before every metric, as `rwsr"
        " evaluate` and the reported tables do (the authors' script: 4 at every scale)",
    )
    lpips: bool = Field(True, description="also compute LPIPS (needs AlexNet weights)")
    lpips_backbone: str | None = Field(
        None,
        description="AlexNet weights file; None = torch hub cache/download; 'random' = tests only",
    )
    images: int = Field(
        4,
        ge=0,
        description="validation pairs (the first N) whose crops each validation saves to"
        " validation/iter_NNNNNNN/ and shows in progress.html; 0 = none",
    )
    image_crop: int = Field(
        192, ge=16, description="side of the centred square cut from each output, in pixels"
    )
    # Under 1 MB per validation at the defaults (0.6 MB on City100): 50 keep a whole paper
    # run (30 validations) and bound one that validates every few hundred iterations.
    keep_images: int | None = Field(
        50, ge=1, description="newest validations whose crops are kept; None = all"
    )


class ModelSection(_Section):
    generator: str = Field("rwsr-edl-x4", description="built-in architecture name")
    rrdb: RRDBNetConfig | None = Field(None, description="override the generator's RRDB trunk")
    head: EDLHeadConfig | None = Field(None, description="override the generator's head")
    init_from: Path | None = Field(None, description="checkpoint to start G from (trunk or full)")
    init_discriminator_from: Path | None = Field(
        None,
        description="checkpoint to start D from: an rwsr training checkpoint (its D) or a file"
        " of D weights; every tensor must fit model.discriminator",
    )
    discriminator: Literal["patchgan", "vgg128"] = "patchgan"
    freeze_trunk: bool = Field(False, description="train only the head (cheap camera adaptation)")
    gradient_checkpointing: bool = Field(
        False, description="recompute RRDB activations in backward"
    )


class LossConfig(_Section):
    routing: Routing = "literal"
    pix: float = Field(0.01, ge=0)
    per: float = Field(1.0, ge=0)
    adv: float = Field(0.005, ge=0)
    perceptual_net: Literal["vgg19", "vgg16"] = Field(
        "vgg19", description="ImageNet network of L_per (the paper: VGG19)"
    )
    vgg_layers: dict[str, Weight] | None = Field(
        None, description="layer -> weight; None = the last conv before ReLU (VGG19 conv5_4)"
    )
    vgg_weights: Path | None = Field(
        None, description="local torchvision weights file of perceptual_net"
    )
    allow_random_vgg: bool = Field(False, description="tests only: perceptual loss on a random VGG")


class OptimConfig(_Section):
    iterations: int = Field(150_000, ge=1)
    # Adam moves each weight by up to about lr per step; weights are far smaller than 1, so a
    # larger rate can only destroy them.
    lr_g: float = Field(1e-4, gt=0, le=1)
    lr_d: float = Field(1e-4, gt=0, le=1)
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    milestones: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [10_000, 30_000, 50_000, 80_000, 120_000],
        description="iterations after which the learning rates are multiplied by gamma",
    )
    gamma: float = Field(0.5, gt=0, le=1, description="a decay: 1 keeps the rates")
    ema_decay: float | None = Field(None, gt=0, lt=1, description="EMA of G, e.g. 0.999")
    warmup: int = Field(
        0,
        ge=0,
        description="iterations of linear learning-rate warm-up (iteration i of them runs at"
        " i/warmup of the rate); the milestone decay multiplies it",
    )
    grad_clip: float | None = Field(
        None, gt=0, description="max global gradient norm, of G and of D each; None = off"
    )
    accumulate: int = Field(
        1,
        ge=1,
        description="micro-batches per optimiser step: the step sees all of data.batch_size,"
        " but a GPU holds only 1/accumulate of its process's share at once",
    )


class SpeedConfig(_Section):
    """Switches that change how fast a step runs, not what it computes (beyond rounding)."""

    cudnn_benchmark: bool = Field(
        True,
        description="CUDA: time cuDNN's convolution algorithms once and keep the fastest (the"
        " crop size is fixed, so the search pays once)",
    )
    tf32: bool = Field(
        True,
        description="CUDA fp32: TF32 matrix units for convolutions and matrix products (about"
        " 1e-3 relative rounding; false = strict fp32 as on the authors' V100s)",
    )
    channels_last: bool = Field(
        False, description="models and batches in NHWC, the layout tensor cores read fastest"
    )
    compile: bool = Field(
        False, description="torch.compile G, D and the perceptual network (a slow first step)"
    )


class TrainConfig(_Section):
    name: str = Field(description="run name: the run folder is output_dir/name")
    output_dir: Path = Path("runs")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="32 bits, as every seed of rwsr")
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    data: DataConfig
    validation: ValidationConfig = ValidationConfig()
    model: ModelSection = ModelSection()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    speed: SpeedConfig = SpeedConfig()
    log_every: int = Field(100, ge=1)
    log_tensorboard: Literal["auto", True, False] = Field(
        "auto", description="also log to TensorBoard; auto = when the package is installed"
    )
    log_wandb: bool = Field(False, description="also log to Weights & Biases (pip install wandb)")
    log_wandb_project: str = Field("rwsr", min_length=1, description="the W&B project")
    checkpoint_every: int = Field(5000, ge=1)
    keep_checkpoints: int = Field(3, ge=1, description="latest N iteration checkpoints kept")
    max_bad_steps: int = Field(10, ge=1, description="consecutive non-finite steps before stopping")

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, name: str) -> str:
        """The run folder is output_dir/name: a name that is a path would write elsewhere."""
        if name in ("", ".", "..") or "/" in name or "\\" in name or len(name.encode()) > 255:
            raise ValueError("must be a single folder name (no '/', not '..', at most 255 bytes)")
        return name

    @model_validator(mode="after")
    def _combinations(self) -> TrainConfig:
        problems = []
        if self.loss.pix + self.loss.per + self.loss.adv <= 0:
            problems.append("loss: all weights are 0; nothing to train")
        if self.model.discriminator == "vgg128" and self.loss.adv > 0 and self.data.hr_patch != 128:
            problems.append(
                f"model.discriminator vgg128 needs data.hr_patch 128, not {self.data.hr_patch}"
            )
        head = self.model.head
        if head is not None and head.branches == 1 and self.loss.routing != "weighted-sum":
            problems.append(
                "a single-branch head has nothing to exclude: use loss.routing weighted-sum"
            )
        net = PERCEPTUAL_NETS[self.loss.perceptual_net]
        unknown = [k for k in self.loss.vgg_layers or () if k not in net.layer_names]
        if unknown:
            problems.append(
                f"loss.vgg_layers: {', '.join(unknown)} not in {net.name}"
                f" (its last conv is {net.default_layer})"
            )
        if self.loss.per > 0 and self.loss.vgg_layers and not any(self.loss.vgg_layers.values()):
            problems.append(
                "loss.vgg_layers: every weight is 0 (to train without L_per: loss.per=0)"
            )
        if self.validation.best_metric == "lpips" and not self.validation.lpips:
            problems.append("validation.best_metric lpips needs validation.lpips true")
        if self.model.init_discriminator_from is not None and self.loss.adv <= 0:
            problems.append(
                "model.init_discriminator_from needs loss.adv > 0 (without L_adv there is no D)"
            )
        if self.model.freeze_trunk and not self.model.generator.startswith("rwsr-edl"):
            problems.append(
                "model.freeze_trunk needs an rwsr-edl generator (the head is what trains)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=2)
    return (
        f"; did you mean {' or '.join(repr(c) for c in close)}?"
        if close
        else f"; valid: {', '.join(valid)}"
    )


def _section_fields(path: tuple[str, ...]) -> list[str] | None:
    """Field names of the section at `path` (list indices skipped); None if not a section."""
    model: Any = TrainConfig
    for part in path:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        candidates = []
        for arg in getattr(annotation, "__args__", (annotation,)):
            candidates += getattr(arg, "__args__", (arg,))  # list[SourceConfig] -> SourceConfig
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return None
    return list(model.model_fields)


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Set `a.b.c=value` in a nested dict (`data.sources.0.root=...` indexes a list); the value
    is parsed as YAML (numbers, lists, mappings...)."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}' is not of the form key=value")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"override '{key}': the value is not valid YAML ({error})") from None
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"override '{key}': '{'.'.join(parts[:depth])}' has {len(node)} entries, "
                    f"so '{part}' is not one of them (0..{len(node) - 1})"
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"override '{key}': '{parts[depth - 1]}' is not a section")
        fields = _section_fields(tuple(parts[:depth]))
        if fields is not None and part not in fields:
            raise ConfigError(f"override '{key}': unknown key '{part}'{_suggest(part, fields)}")
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})


def _describe(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        if item["type"] == "extra_forbidden":
            parent = tuple(str(p) for p in item["loc"][:-1])
            fields = _section_fields(parent) or []
            lines.append(f"{where}: unknown key{_suggest(str(item['loc'][-1]), fields)}")
        elif item["type"] == "missing":
            lines.append(f"{where}: required")
        else:
            message = item["msg"].removeprefix("Value error, ")
            lines.append(
                f"{where}: {message} (got {item.get('input')!r})" if item["loc"] else message
            )
    return lines


def missing_paths(config: TrainConfig) -> list[str]:
    """Paths in the config that must exist before training starts."""
    required: dict[str, Path | None] = {}
    for index, source in enumerate(config.data.sources):
        required[f"data.sources.{index}.root"] = source.root
        required[f"data.sources.{index}.noise_bank"] = source.noise_bank
    required |= {
        "data.noise_bank": config.data.noise_bank,
        "validation.root": config.validation.root,
        "model.init_from": config.model.init_from,
        "model.init_discriminator_from": config.model.init_discriminator_from,
        "loss.vgg_weights": config.loss.vgg_weights,
        "validation.lpips_backbone": None
        if config.validation.lpips_backbone in (None, "random")
        else Path(config.validation.lpips_backbone),
    }
    return [
        f"{key}: {path} does not exist"
        for key, path in required.items()
        if path is not None and not Path(path).exists()
    ]


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML mapping of `path`, merged over the file named by its `extends:` key (a path
    relative to this file), so an ablation states only what it changes."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: `extends` loops back to itself")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    return _merge(read_raw(path.parent / parent, (*seen, path.resolve())), raw)


def load_config(
    path: str | os.PathLike[str], overrides: list[str] = (), *, check_paths: bool = True
) -> TrainConfig:
    """Read (with `extends`), override, validate; every problem is listed in one ConfigError.
    Relative paths inside the config are relative to the current directory; `check_paths`
    False skips the check that they exist (to read a preset on another machine)."""
    path = Path(path)
    raw = read_raw(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    try:
        config = TrainConfig.model_validate(raw)
    except ValidationError as error:
        lines = _describe(error)
        raise ConfigError(f"{path}: {len(lines)} problem(s):\n  " + "\n  ".join(lines)) from None
    problems = missing_paths(config) if check_paths else []
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return config
