"""ncnn export: the written files run by the ncnn runtime itself (the `ncnn` wheel) on a real
photo crop, against PyTorch, for each architecture rwsr trains; read back by rwsr's importer;
refused, with nothing written, when ncnn does not compute the model."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import ncnn
import numpy as np
import pytest
import torch
from shared_data import RWSR_EDL_X1  # a small trained x1 RWSR-EDL
from torch.nn import functional as F

from rwsr.errors import ConfigError, RwsrError
from rwsr.models.catalog import build_model, generator_scale
from rwsr.models.compact import CompactConfig
from rwsr.models.edl import EDLHeadConfig, RWSREDLConfig, set_texture
from rwsr.models.export import check_photo, export_ncnn
from rwsr.models.ncnn import TAG_FP16, TAG_FP32, convert_ncnn
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.models.zoo import load_generator

TRUNK = {"nf": 8, "nb": 1, "gc": 4}  # small: the graph is the same at any size
HEAD = EDLHeadConfig(init="default", nf=16)  # random, not the identity: every weight acts
ARCHITECTURES = {
    "rrdbnet-x4": RRDBNetConfig(scale=4, **TRUNK),
    "rrdbnet-x2-unshuffle2": RRDBNetConfig(scale=2, input_unshuffle=2, **TRUNK),
    "rwsr-edl-x1-unshuffle4": RWSREDLConfig(
        rrdb=RRDBNetConfig(scale=1, input_unshuffle=4, **TRUNK), head=HEAD
    ),
    "rwsr-edl-official-x4": RWSREDLConfig(
        rrdb=RRDBNetConfig(scale=4, **TRUNK), head=HEAD.model_copy(update={"variant": "official"})
    ),
    "rwsr-edl-fixed-mask-x2": RWSREDLConfig(
        rrdb=RRDBNetConfig(scale=2, **TRUNK), head=HEAD.model_copy(update={"mask": "fixed"})
    ),
    "rwsr-edl-single-branch-x3": RWSREDLConfig(
        rrdb=RRDBNetConfig(scale=3, **TRUNK), head=HEAD.model_copy(update={"branches": 1})
    ),
    "compact-x4": CompactConfig(nf=8, num_conv=2),
}


def _photo(crops: Path, height: int, width: int) -> torch.Tensor:
    """A crop of a real iPhone photo (City100 LR 021) as a 1x3xHxW float tensor in [0, 1]."""
    bgr = cv2.imread(str(crops / "021L.PNG"))[30 : 30 + height, 40 : 40 + width]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    return torch.from_numpy(rgb).permute(2, 0, 1)[None]


def _ncnn(param: Path, x: torch.Tensor) -> np.ndarray:
    """The files run as Upscayl's programs run them: blob `data` in, blob `output` out (CPU)."""
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1  # OpenMP threads spin against other jobs on a loaded machine
    for option in (
        "use_fp16_storage",
        "use_fp16_packed",
        "use_fp16_arithmetic",
        "use_bf16_storage",
    ):
        setattr(net.opt, option, False)  # float32 arithmetic, as PyTorch's, on any CPU
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    image = np.ascontiguousarray(x[0].numpy())  # ncnn.Mat borrows this memory
    mat = ncnn.Mat(image)
    extractor = net.create_extractor()
    extractor.input("data", mat)
    status, out = extractor.extract("output")
    assert status == 0
    return np.array(out)


def _pytorch(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """PyTorch's output; a pixel-unshuffle model at a size no multiple of its factor runs on
    the image mirrored to the next multiple, cropped back (what the graph does)."""
    config = getattr(model.config, "rrdb", model.config)
    factor, scale = getattr(config, "input_unshuffle", 1), generator_scale(model.config)
    height, width = x.shape[-2:]
    padded = F.pad(x, (0, -width % factor, 0, -height % factor), mode="reflect")
    with torch.no_grad():
        return model(padded)[0, :, : height * scale, : width * scale].numpy()


def _db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (peak 1) of the raw outputs, not clipped: values outside [0, 1] count too."""
    return float(10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_the_ncnn_runtime_runs_the_export_as_pytorch_does(
    architecture: str, city100_crops: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = build_model(ARCHITECTURES[architecture]).eval()
    param = tmp_path / f"{architecture}.param"
    report = export_ncnn(model, param, photo=check_photo(), overwrite=False, name=architecture)
    assert "agrees with PyTorch to" in report.detail
    assert int.from_bytes(param.with_suffix(".bin").read_bytes()[:4], "little") == TAG_FP16
    scale = generator_scale(model.config)
    stored = copy.deepcopy(model)  # the weights as the file holds them: fp16 convolutions
    with torch.no_grad():
        for conv in (m for m in stored.modules() if isinstance(m, torch.nn.Conv2d)):
            conv.weight.copy_(conv.weight.half().float())
    # Sizes no multiple of 2 or 4: the tiles Upscayl cuts have any size.
    for height, width in ((41, 53), (37, 47)):
        x = _photo(city100_crops, height, width)
        theirs = _ncnn(param, x)
        assert theirs.shape == (3, height * scale, width * scale)
        assert _db(theirs, _pytorch(model, x)) >= 45, architecture
        # The weights the file holds: float32 rounding apart, the same numbers (150-165 dB
        # measured; a residual scale of 0.21 for 0.2 in the graph gives 85-95).
        assert _db(theirs, _pytorch(stored, x)) >= 110, architecture


def test_a_trained_rwsr_edl_runs_in_ncnn_as_in_pytorch(city100_crops: Path, tmp_path: Path) -> None:
    """A trained RWSR-EDL (2 RRDBs + the paper head: softmax mask, two branches; the retired
    zoo model in tests/fixtures/models) on a real photo: an image, not a random network's
    noise, and the same image from ncnn."""
    model = load_generator(str(RWSR_EDL_X1)).model.float().eval()
    param = tmp_path / "rwsr-edl-camerasr-x1.param"
    export_ncnn(model, param, photo=check_photo(), overwrite=False, name="rwsr-edl-camerasr-x1")
    x = _photo(city100_crops, 57, 71)
    theirs, ours = _ncnn(param, x), _pytorch(model, x)
    assert ours.std() > 0.1 and np.mean((ours >= 0) & (ours <= 1)) > 0.99  # a photo
    assert _db(ours, x[0].numpy()) > 25  # close to its input: this model cleans at x1
    assert _db(theirs, ours) >= 110  # its weights are float16 already: the file holds them


@pytest.mark.parametrize("architecture", ["rrdbnet-x4", "compact-x4"])
def test_an_exported_rrdbnet_or_compact_imports_back_to_the_same_weights(
    architecture: str, tmp_path: Path
) -> None:
    """The exported graphs have the structure of Real-ESRGAN's ncnn files, which rwsr imports."""
    torch.manual_seed(0)
    model = build_model(ARCHITECTURES[architecture]).eval()
    param = tmp_path / "model.param"
    export_ncnn(
        model, param, dtype="float32", photo=check_photo(), overwrite=False, name=architecture
    )
    assert int.from_bytes(param.with_suffix(".bin").read_bytes()[:4], "little") == TAG_FP32
    imported = convert_ncnn(param, param.with_suffix(".bin"))
    assert imported.config == model.config
    for key, tensor in model.state_dict().items():
        torch.testing.assert_close(imported.state_dict()[key], tensor, rtol=0, atol=0, msg=key)


def test_a_model_the_graph_does_not_compute_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    """The texture dial changes the forward, not the weights: the graph (the trained output)
    no longer matches it, and the proof says so."""
    model = load_generator(str(RWSR_EDL_X1)).model
    set_texture(model, 0.0)
    param = tmp_path / "dialled-x1.param"
    with pytest.raises(RwsrError, match=r"the ncnn runtime does not reproduce the model \(4"):
        export_ncnn(model, param, photo=check_photo(), overwrite=False, name="dialled")
    assert list(tmp_path.iterdir()) == []


def test_an_architecture_without_an_ncnn_writer_is_refused_by_name(tmp_path: Path) -> None:
    from spandrel.architectures.SPAN import SPAN

    from rwsr.models.foreign import SpandrelGenerator

    torch.manual_seed(0)
    span = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=12, upscale=2)
    path = tmp_path / "span.pth"
    torch.save(span.state_dict(), path)
    model = load_generator(str(path)).model
    assert isinstance(model, SpandrelGenerator)
    with pytest.raises(ConfigError, match="not SpandrelGenerator; export it to ONNX instead"):
        export_ncnn(model, tmp_path / "span.param", photo=check_photo(), overwrite=False, name="s")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["span.pth"]
