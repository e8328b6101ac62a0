"""LPIPS (Zhang et al. 2018) through the `lpips` package: AlexNet (default) or VGG16, v0.1.

Convention (the authors' group script and the lpips package): RGB inputs scaled to [-1, 1],
the v0.1 linear calibration layers, spatial average; lower is better.

The calibration layers ship inside the lpips wheel and load offline. The backbone is
torchvision's ImageNet network, which torchvision downloads at run time: we load it from a
file given by the user, from torchvision's cache, or by that download. Offline without the
file the error says where to put it. A random backbone (meaningless values, for tests only)
is never a fallback: it has to be asked for with `backbone="random"`.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import numpy as np
import torch
from torchvision.models import AlexNet_Weights, VGG16_Weights  # type: ignore[import-untyped]

from rwsr.errors import CheckpointError, ConfigError, InputError
from rwsr.metrics import color
from rwsr.models.pretrained import cache_path, load_weights

Net = Literal["alex", "vgg"]
BACKBONE_WEIGHTS = {"alex": AlexNet_Weights.IMAGENET1K_V1, "vgg": VGG16_Weights.IMAGENET1K_V1}
NET_NAMES = {"alex": "AlexNet", "vgg": "VGG16"}
RANDOM = "random"
# `rwsr evaluate`'s option for a local backbone file, and its way to do without LPIPS.
EVALUATE_OPTIONS = (
    "--lpips-backbone PATH",
    ", or evaluate without LPIPS (--metrics psnr,ssim,niqe)",
)


def load_backbone_state(
    net: Net, path: str | os.PathLike[str] | None, *, options: tuple[str, str] = EVALUATE_OPTIONS
) -> dict:
    """torchvision state dict of the backbone: from `path`, the hub cache, or a download.
    `options`: the calling command's option for a local file, and its way to do without."""
    return load_weights(
        BACKBONE_WEIGHTS[net],
        path,
        what=f"LPIPS ({net})",
        network=NET_NAMES[net],
        option=options[0],
        alternative=options[1],
    )


def _load_into(backbone: torch.nn.Module, state: dict, source: str) -> None:
    """Copy torchvision `features.N.*` tensors into the lpips backbone's slices (same N)."""
    features = {
        k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")
    }
    mapped = {}
    for slice_name, block in backbone.named_children():
        for index, _ in block.named_children():
            for param in ("weight", "bias"):
                key = f"{index}.{param}"
                if key in features:
                    mapped[f"{slice_name}.{key}"] = features[key]
    try:
        backbone.load_state_dict(mapped, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{source}: not a torchvision backbone state dict ({error})"
        ) from None


class LPIPS:
    """LPIPS distance between SR and HR images (HxWx3 or NxHxWx3, uint8/uint16/float [0, 1]).

    backbone: None (torchvision cache or download), a weights file, or "random" (tests only).
    """

    def __init__(
        self,
        *,
        net: Net = "alex",
        backbone: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        options: tuple[str, str] = EVALUATE_OPTIONS,
    ) -> None:
        """`options` name the caller's option for a local backbone file and its way out
        (the offline error shows them)."""
        if net not in BACKBONE_WEIGHTS:
            raise ConfigError(
                f"LPIPS net must be one of {', '.join(BACKBONE_WEIGHTS)}, got {net!r}"
            )
        import lpips  # type: ignore[import-untyped]  # loads torchvision models: only when asked

        self.net = net
        self.random_backbone = str(backbone) == RANDOM
        state = (
            None if self.random_backbone else load_backbone_state(net, backbone, options=options)
        )
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # lpips passes torchvision's deprecated `pretrained=False`; its v0.1 linear layers
            # are loaded from the wheel (pretrained=True), the backbone stays random until
            # we copy the real weights in.
            warnings.simplefilter("ignore", UserWarning)
            torch.manual_seed(seed)
            model = lpips.LPIPS(
                pretrained=True, net=net, version="0.1", pnet_rand=True, verbose=False
            )
        if state is not None:
            _load_into(model.net, state, str(backbone or cache_path(BACKBONE_WEIGHTS[net])))
        self.device = torch.device(device)
        self.model = model.eval().requires_grad_(False).to(self.device)

    def __call__(
        self, sr: np.ndarray, hr: np.ndarray, *, crop_border: int = 0
    ) -> float | np.ndarray:
        if sr.shape != hr.shape:
            raise InputError(f"SR has shape {sr.shape} but HR has shape {hr.shape}")
        color.check_rgb(sr, what="SR")
        batched = sr.ndim == 4

        def tensor(image: np.ndarray) -> torch.Tensor:
            values = (
                color.crop_border(color.to_float255(image), crop_border) / 127.5 - 1.0
            )  # [-1, 1]
            values = values if batched else values[None]
            return torch.from_numpy(values).float().permute(0, 3, 1, 2).to(self.device)

        with torch.inference_mode():
            distances = self.model(tensor(sr), tensor(hr)).flatten().cpu().numpy()
        values = distances.astype(np.float64)
        return values if batched else float(values[0])
