"""torchvision ImageNet weights (VGG19 for the perceptual loss, AlexNet/VGG16 for LPIPS): from
a file the user names, torchvision's hub cache, or torchvision's download. No registry here
ships them, so offline the error says exactly how to supply the file."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.models import WeightsEnum

from rwsr.errors import CheckpointError, WeightsUnavailableError


def cache_path(weights: WeightsEnum) -> Path:
    """Where torchvision keeps (and first looks for) the downloaded file of `weights`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def load_weights(
    weights: WeightsEnum,
    path: str | os.PathLike[str] | None,
    *,
    what: str,
    network: str,
    option: str,
    alternative: str = "",
) -> dict:
    """State dict of `weights` from `path`, the hub cache, or a download.

    `what` names the user (e.g. "The perceptual loss"), `network` the backbone ("VGG19"), `option` the command-line
    option that takes a local file, `alternative` an extra way out for the offline message.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise WeightsUnavailableError(f"{path}: {network} weights file does not exist")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file gets the same message
            raise CheckpointError(f"{path}: cannot read {network} weights ({error})") from None
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except OSError as error:  # URLError, socket and file errors are all OSError
        raise WeightsUnavailableError(
            f"{what} needs torchvision's ImageNet {network} weights, which could not be downloaded from"
            f" {weights.url} ({error}). Offline, download that file elsewhere and pass it with"
            f" {option}, or copy it to {cache_path(weights)} (the torch hub cache; TORCH_HOME"
            f" moves it){alternative}."
        ) from None
