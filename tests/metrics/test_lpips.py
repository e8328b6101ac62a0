"""LPIPS: real backbone loading (file, cache, offline error) and the distance itself, checked
against the formula of Zhang et al. (2018) computed by hand on torchvision's AlexNet."""

from __future__ import annotations

from importlib import util
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import alexnet

from rwsr.errors import CheckpointError, WeightsUnavailableError
from rwsr.metrics.lpips import LPIPS


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    """torchvision's own AlexNet with seeded random weights, standing in for ImageNet's."""
    torch.manual_seed(11)
    net = alexnet(weights=None).eval()
    path = tmp_path_factory.mktemp("alex") / "alexnet-owt-7be5be79.pth"
    torch.save(net.state_dict(), path)
    return net, path


def lpips_by_hand(net: torch.nn.Module, a: np.ndarray, b: np.ndarray) -> float:
    """d(x, y) = sum_l mean_hw || w_l * (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|) ||^2 over the
    five AlexNet ReLU outputs, inputs in [-1, 1] then shifted and scaled per channel (v0.1)."""
    spec = util.find_spec("lpips")
    assert spec is not None and spec.origin is not None
    linear = torch.load(
        Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth", map_location="cpu"
    )
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def features(image: np.ndarray) -> list[torch.Tensor]:
        x = torch.from_numpy(image / 127.5 - 1.0).float().permute(2, 0, 1)[None]
        h = (x - shift) / scale
        taps = []
        for index, layer in enumerate(net.features[:12]):
            h = layer(h)
            if index in (1, 4, 7, 9, 11):  # relu1 .. relu5
                taps.append(h)
        return taps

    total = 0.0
    with torch.no_grad():
        for layer, (fa, fb) in enumerate(zip(features(a), features(b))):
            na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            weights = linear[f"lin{layer}.model.1.weight"].view(1, -1, 1, 1)
            total += float(((na - nb) ** 2 * weights).sum(1).mean())
    return total


def test_local_backbone_file_gives_the_lpips_formula(
    pair: tuple[np.ndarray, np.ndarray], backbone_file: tuple[torch.nn.Module, Path]
) -> None:
    net, path = backbone_file
    sr, hr = (np.ascontiguousarray(x[:96, :128]) for x in pair)
    metric = LPIPS(backbone=path)
    expected = lpips_by_hand(net, sr, hr)
    assert metric(sr, hr) == pytest.approx(expected, rel=1e-5)
    assert expected > 0
    # The border crop is applied before the network.
    cropped = lpips_by_hand(net, sr[4:-4, 4:-4], hr[4:-4, 4:-4])
    assert metric(sr, hr, crop_border=4) == pytest.approx(cropped, rel=1e-5)


def test_backbone_is_found_in_the_torch_hub_cache(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    backbone_file: tuple[torch.nn.Module, Path],
) -> None:
    net, path = backbone_file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / path.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    metric = LPIPS()
    torch.testing.assert_close(metric.model.net.slice1[0].weight, net.features[0].weight)
    torch.testing.assert_close(metric.model.net.slice5._modules["10"].bias, net.features[10].bias)


def test_offline_without_weights_says_how_to_supply_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as caught:
        LPIPS()
    message = str(caught.value)
    assert "--lpips-backbone PATH" in message and "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "home") in message
    with pytest.raises(WeightsUnavailableError, match="vgg16-397923af.pth"):
        LPIPS(net="vgg")


def test_bad_backbone_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        LPIPS(backbone=tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        LPIPS(backbone=junk)
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(CheckpointError, match="not a torchvision backbone"):
        LPIPS(backbone=wrong)


def test_random_backbone_only_when_asked(pair: tuple[np.ndarray, np.ndarray]) -> None:
    sr, hr = (np.ascontiguousarray(x[:64, :96]) for x in pair)
    first, second = LPIPS(backbone="random", seed=5), LPIPS(backbone="random", seed=5)
    assert first.random_backbone
    assert first(sr, hr) == second(sr, hr) > 0  # seeded: reproducible in tests
    assert first(hr, hr) == 0.0
    batch = first(np.stack([sr, hr]), np.stack([hr, hr]))
    np.testing.assert_allclose(batch, [first(sr, hr), 0.0], rtol=1e-5, atol=1e-7)
    vgg = LPIPS(net="vgg", backbone="random")
    assert vgg(sr, hr) > 0 and vgg(sr, hr) != first(sr, hr)
