"""VGG19 perceptual features: real weight loading, offline errors, layer selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import VGG19_Weights, vgg19
from torchvision.models.vgg import cfgs, make_layers

from rwsr.errors import CheckpointError, WeightsUnavailableError
from rwsr.models.pretrained import cache_path
from rwsr.models.vgg import VGGFeatureExtractor


def test_offline_error_says_how_to_supply_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as caught:
        VGGFeatureExtractor()
    message = str(caught.value)
    assert "--vgg-weights PATH" in message
    assert str(tmp_path / "hub") in message and "vgg19-dcbb9e9d.pth" in message


@pytest.fixture(scope="module")
def reference() -> torch.nn.Module:
    """torchvision's own VGG19 with random weights, standing in for the ImageNet ones."""
    torch.manual_seed(4)
    return vgg19(weights=None).eval()


@pytest.fixture(scope="module")
def reference_file(reference: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(reference.state_dict(), path)
    return path


def test_local_weights_file_is_loaded(reference: torch.nn.Module, reference_file: Path) -> None:
    path = reference_file
    extractor = VGGFeatureExtractor(layers=("conv1_1", "conv5_4"), weights_path=path)
    torch.testing.assert_close(extractor.features[0].weight, reference.features[0].weight)
    image = torch.rand(1, 3, 32, 32)
    normalised = (image - extractor.mean) / extractor.std
    with torch.no_grad():
        features = extractor(image)
        torch.testing.assert_close(features["conv5_4"], reference.features[:35](normalised))
        # conv5_4 is taken before its ReLU, as ESRGAN does.
        assert (features["conv5_4"] < 0).any()
    assert not any(p.requires_grad for p in extractor.parameters())


def test_cached_weights_are_found(
    reference: torch.nn.Module,
    reference_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file placed in the torch hub cache is used without any download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = cache_path(VGG19_Weights.IMAGENET1K_V1)
    cache.parent.mkdir(parents=True)
    cache.symlink_to(reference_file)
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("downloaded")
    )
    extractor = VGGFeatureExtractor()
    torch.testing.assert_close(extractor.features[34].weight, reference.features[34].weight)


def test_bad_local_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        VGGFeatureExtractor(weights_path=tmp_path / "missing.pth")
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other\.pth: not a torchvision VGG19"):
        VGGFeatureExtractor(weights_path=tmp_path / "other.pth")


def test_unknown_layer_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="conv5_4"):
        VGGFeatureExtractor(layers=("conv6_1",), allow_random=True)


def test_stays_in_eval_mode() -> None:
    extractor = VGGFeatureExtractor(layers=("relu2_2",), allow_random=True)
    extractor.train()
    assert not extractor.training


def _stand_in(cfg: list, path: Path) -> Path:
    """The first layers of a torchvision network (`cfg`: its conv stack, cut short), with the
    real key names and shapes, saved as a weights file."""
    torch.manual_seed(5)
    layers = make_layers(cfg)
    torch.save({f"features.{key}": value for key, value in layers.state_dict().items()}, path)
    return path


def test_a_given_file_is_used_even_where_a_random_vgg_is_allowed(tmp_path: Path) -> None:
    path = _stand_in(cfgs["E"][:5], tmp_path / "vgg19-first-layers.pth")  # conv1_1 .. conv2_2
    extractor = VGGFeatureExtractor(layers=("conv2_2",), weights_path=path, allow_random=True)
    stored = torch.load(path)
    for index in (0, 2, 5, 7):
        torch.testing.assert_close(
            extractor.features[index].weight, stored[f"features.{index}.weight"]
        )


ALEXNET_FEATURES = {  # torchvision's alexnet: (out, in, kernel) of features.0, .3, .6
    "features.0.weight": (64, 3, 11, 11),
    "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5),
    "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3),
}


@pytest.mark.parametrize("allow_random", [True, False])
def test_another_network_is_refused(tmp_path: Path, allow_random: bool) -> None:
    alexnet = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save({key: torch.zeros(shape) for key, shape in ALEXNET_FEATURES.items()}, alexnet)
    with pytest.raises(
        CheckpointError,
        match=r"alexnet-owt-7be5be79\.pth: not a torchvision VGG19 state dict, .*"
        r"features\.0\.weight is \(64, 3, 11, 11\), not \(64, 3, 3, 3\)",
    ):
        VGGFeatureExtractor(layers=("conv2_2",), weights_path=alexnet, allow_random=allow_random)
    vgg16 = _stand_in(cfgs["D"][:11], tmp_path / "vgg16.pth")  # up to conv4_1 (features.17)
    with pytest.raises(CheckpointError, match=r"features\.17\.weight .* is not in VGG19"):
        VGGFeatureExtractor(layers=("conv2_2",), weights_path=vgg16, allow_random=allow_random)
    too_short = _stand_in(cfgs["E"][:2], tmp_path / "conv1.pth")  # conv1_1, conv1_2 only
    with pytest.raises(CheckpointError, match=r"features\.5\.weight is missing"):
        VGGFeatureExtractor(layers=("conv2_2",), weights_path=too_short, allow_random=allow_random)
