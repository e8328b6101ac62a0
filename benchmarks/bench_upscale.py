"""Upscaling speed and memory on this machine, as ratios measured in the same run.

    python benchmarks/bench_upscale.py            # speed: 300x200 input at x4 (paper Table VI)
    python benchmarks/bench_upscale.py --memory   # peak RSS for a 2000x1500 input at x4
    python benchmarks/bench_upscale.py --pair A B  # two models (zoo names or files), alternating
    python benchmarks/bench_upscale.py --openvino  # speed, plus OpenVINO's CPU engine
    python benchmarks/bench_upscale.py --compact   # realesr-general-x4v3 beside ncnn and x4plus
    python benchmarks/bench_upscale.py --host-overhead  # the engine's own work, new vs old

Speed compares the engine's fastest setting (auto precision: bf16 on AMX CPUs, channels_last,
auto tile, in a process set up as the `rwsr` command sets itself up) with a plain fp32
PyTorch forward of the same network on the same input, run as a plain script would (and, for
reference, with rwsr's allocator setting), and the PSNR between the two outputs (RGB, 8-bit,
whole image, no border crop). Beside them, on the same photo and threads: realesrgan-ncnn
(Upscayl's engine, the registry's `ncnn` wheel, no Vulkan) where installed, torch.compile
(`--compile`), and with --openvino OpenVINO's CPU engine. Targets: >= 5x, >= 45 dB; stretch:
>= 0.76 frames/s (the paper's V100 figure). Memory target: <= 3 GB.

--compact times the zoo's `realesr-general-x4v3` (SRVGGNetCompact, ~15x fewer FLOPs) through
the engine, alternating with the default model through the engine, then ncnn's CPU engine on
the same weights (Upscayl's ncnn files in ../shared); PSNR against the compact network's plain
fp32 forward. It prints the seconds per megapixel to enter as the zoo entry's `cpu_speed`.

--host-overhead times `Upscaler.upscale` with a stand-in generator whose forward costs
nothing (InstantX4), in fp32, on the CPU or --device: what is left is the engine's own work
per frame, the floor a GPU pays on top of the network. The engine of OLD_ENGINE (before the
blending moved to the device) alternates with the current one in the same process, on the
same inputs and tiles: the 300x200 frame of Table VI in one tile, and 2000x1500 in the
H200's automatic 1440 px tiles and in the CPU's 320 px ones. Outputs must be bit-identical.
On a CPU that other work shares, set OMP_NUM_THREADS=1: there two torch threads stall each
other (the new 300x200 frame took 67 ms with 2 threads and 7 ms with 1 beside a training run).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from profiling import convolution_share  # benchmarks/profiling.py, beside this script

from rwsr.cli.common import keep_freed_memory
from rwsr.errors import WeightsUnavailableError
from rwsr.imageio import from_float, read_image
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.models.zoo import DEFAULT_MODEL, install, load_generator
from rwsr.upscale.engine import Upscaler

REPO = Path(__file__).resolve().parents[1]
CITY100 = REPO.parent / "shared" / "datasets" / "city100_iphonex_train" / "030L.PNG"
SAMPLE = REPO / "src" / "rwsr" / "assets" / "sample.png"


def test_photo(width: int, height: int) -> np.ndarray:
    """A real photo of the requested size: a City100 crop when available, else the bundled
    sample resized (bicubic)."""
    if CITY100.exists() and width <= 840 and height <= 600:
        return np.ascontiguousarray(read_image(CITY100)[300 : 300 + height, 400 : 400 + width])
    return cv2.resize(read_image(SAMPLE), (width, height), interpolation=cv2.INTER_CUBIC)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def plain_forward(rounds: int, output: Path) -> None:
    """Child process: a plain fp32 PyTorch forward as any script runs it (default allocator);
    prints its best time and saves its 8-bit output for the PSNR."""
    model = load_generator(DEFAULT_MODEL).model.float().eval()
    x = torch.from_numpy(test_photo(300, 200)).permute(2, 0, 1)[None].float() / 255
    times = []
    with torch.inference_mode():
        model(x[..., :32, :32])
        for _ in range(rounds):
            start = time.perf_counter()
            y = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
            times.append(time.perf_counter() - start)
    np.save(output, from_float(y))
    print(min(times))


NCNN_FOLDER = REPO.parent / "shared" / "models" / "ncnn"
NCNN_MODEL = NCNN_FOLDER / "realesrgan_x4plus" / "realesrgan-x4plus"
COMPACT = "realesr-general-x4v3"
COMPACT_NCNN = NCNN_FOLDER / "realesr_general_x4v3" / "realesr-general-x4v3"


def ncnn_forward(
    rounds: int, model: Path = NCNN_MODEL, image: np.ndarray | None = None
) -> tuple[float, np.ndarray] | None:
    """An ncnn network (Upscayl's engine; realesrgan-ncnn's x4plus by default) through the
    registry's `ncnn` wheel on the CPU: same threads, no Vulkan, the whole photo (default
    300x200) in one call; best time and output. None where the wheel or the files are missing."""
    try:
        import ncnn
    except ImportError:
        return None
    if not model.with_suffix(".param").exists():
        return None
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = torch.get_num_threads()
    net.load_param(str(model.with_suffix(".param")))
    net.load_model(str(model.with_suffix(".bin")))
    image = test_photo(300, 200) if image is None else image
    height, width = image.shape[:2]
    times, output = [], None
    for _ in range(rounds + 1):  # the first call is a warm-up
        start = time.perf_counter()
        mat = ncnn.Mat.from_pixels(image, ncnn.Mat.PixelType.PIXEL_RGB, width, height)
        mat.substract_mean_normalize([], [1 / 255.0] * 3)
        extractor = net.create_extractor()
        extractor.input("data", mat)
        _, result = extractor.extract("output")
        output = np.clip(np.rint(np.array(result).transpose(1, 2, 0) * 255), 0, 255)
        times.append(time.perf_counter() - start)
    return min(times[1:]), output.astype(np.uint8)


def openvino_forward(
    model: torch.nn.Module, x: torch.Tensor, rounds: int
) -> tuple[float, float, np.ndarray] | None:
    """The same network in OpenVINO (Intel's CPU engine), converted from the fp32 PyTorch
    `model`, on the CPU with the same threads, the whole photo `x` in one call: set-up seconds
    (conversion, compilation, a warm-up call), best time and output. None where `openvino`
    is not installed."""
    try:
        import openvino
    except ImportError:
        return None
    start = time.perf_counter()
    converted = openvino.convert_model(model, example_input=x, input=[1, 3, -1, -1])
    settings = {
        "INFERENCE_NUM_THREADS": torch.get_num_threads(),
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }
    request = openvino.Core().compile_model(converted, "CPU", settings).create_infer_request()
    request.infer({0: x.numpy()})  # warm-up
    setup_seconds = time.perf_counter() - start
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        request.infer({0: x.numpy()})
        output = request.get_output_tensor(0).data[0].transpose(1, 2, 0)
        times.append(time.perf_counter() - start)
    return setup_seconds, min(times), from_float(np.clip(output, 0, 1))


def speed(rounds: int, with_openvino: bool) -> None:
    """The plain forward runs first in a child process with the default allocator: what a
    plain PyTorch script gets. In this process, set up as the `rwsr` command sets itself up,
    the same fp32 forward and the engine alternate, each keeping its best time, so load from
    other processes on a shared machine biases neither side."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "plain.npy"
        child = [sys.executable, __file__, "--plain-child", str(saved), "--rounds", str(rounds)]
        script_seconds = float(
            subprocess.run(child, check=True, capture_output=True, text=True).stdout
        )
        reference = np.load(saved)
    keep_freed_memory()  # as the `rwsr` command does
    model = load_generator(DEFAULT_MODEL).model
    image = test_photo(300, 200)
    plain = copy.deepcopy(model).float().eval()
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    upscaler = Upscaler(model)
    upscaler.upscale(image[:32, :32])
    plain_times, fast_times = [], []
    with torch.inference_mode():
        plain(x[..., :32, :32])
        for _ in range(rounds):
            start = time.perf_counter()
            plain(x)
            plain_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            fast = upscaler.upscale(image)
            fast_times.append(time.perf_counter() - start)
    plain_seconds, fast_seconds = min(plain_times), min(fast_times)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, input 300x200 -> 1200x800, best of {rounds}"
    )
    print(f"plain fp32 forward, plain script:       {script_seconds:7.2f} s")
    print(f"plain fp32 forward, rwsr's allocator:   {plain_seconds:7.2f} s")
    print(
        f"engine ({str(upscaler.dtype).removeprefix('torch.')}, tile {upscaler.auto_tile()}):"
        f"          {fast_seconds:7.2f} s  ({1 / fast_seconds:.3f} frames/s)"
    )
    print(
        f"speed-up: {script_seconds / fast_seconds:.2f}x vs the plain script (target >= 5x),"
        f" {plain_seconds / fast_seconds:.2f}x vs fp32 with the same allocator"
    )
    print(f"PSNR engine vs fp32: {psnr(fast, reference):.2f} dB (target >= 45 dB)")
    share = convolution_share(lambda: upscaler.upscale(image))
    print(f"convolutions: {share:.0%} of an engine frame (torch.profiler, self CPU time)")
    print(f"frames/s vs paper V100 0.7632: {1 / fast_seconds / 0.7632:.2f}x")
    if DEFAULT_MODEL == "realesrgan-x4plus":
        measured = ncnn_forward(rounds)
        if measured is None:
            print("realesrgan-ncnn: skipped (pip install ncnn; needs ../shared/models/ncnn)")
        else:
            ncnn_seconds, ncnn_out = measured
            print(
                f"realesrgan-ncnn (CPU, {torch.get_num_threads()} threads, no Vulkan):"
                f" {ncnn_seconds:7.2f} s  ({1 / ncnn_seconds:.3f} frames/s); engine is"
                f" {ncnn_seconds / fast_seconds:.2f}x as fast; PSNR ncnn vs fp32"
                f" {psnr(ncnn_out, reference):.2f} dB"
            )
    if with_openvino:
        measured = openvino_forward(plain, x, rounds)
        if measured is None:
            print("openvino: skipped (pip install openvino)")
        else:
            setup_seconds, ov_seconds, ov_out = measured
            print(
                f"OpenVINO (CPU, fp32, {torch.get_num_threads()} threads):"
                f"      {ov_seconds:7.2f} s  ({1 / ov_seconds:.3f} frames/s) after"
                f" {setup_seconds:.0f} s of set-up; engine is {ov_seconds / fast_seconds:.2f}x"
                f" as fast; PSNR OpenVINO vs fp32 {psnr(ov_out, reference):.2f} dB"
            )
    compiled = Upscaler(load_generator(DEFAULT_MODEL).model, compile_model=True)
    start = time.perf_counter()
    compiled.upscale(image)
    compile_seconds = time.perf_counter() - start
    compiled_times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fastest = compiled.upscale(image)
        compiled_times.append(time.perf_counter() - start)
    best = min(compiled_times)
    print(
        f"engine --compile:                       {best:7.2f} s  ({1 / best:.3f} frames/s), first call {compile_seconds:.0f} s"
    )
    print(
        f"speed-up with --compile: {script_seconds / best:.2f}x vs the plain script,"
        f" {plain_seconds / best:.2f}x vs fp32 with the same allocator,"
        f" PSNR vs fp32 {psnr(fastest, reference):.2f} dB, frames/s vs V100 {1 / best / 0.7632:.2f}x"
    )


def pair(first: str, second: str, rounds: int) -> None:
    """Two models through the engine on the same 300x200 photo, alternating, each keeping
    its best time: the speed ratio and the PSNR between their outputs (RGB, 8-bit, whole
    image, no border crop)."""
    keep_freed_memory()  # as the `rwsr` command does
    image = test_photo(300, 200)
    upscalers = [Upscaler(load_generator(name).model) for name in (first, second)]
    for upscaler in upscalers:
        upscaler.upscale(image[:32, :32])
    times: list[list[float]] = [[], []]
    outputs = [image, image]
    for _ in range(rounds):
        for index, upscaler in enumerate(upscalers):
            start = time.perf_counter()
            outputs[index] = upscaler.upscale(image)
            times[index].append(time.perf_counter() - start)
    best = [min(t) for t in times]
    dtype = str(upscalers[0].dtype).removeprefix("torch.")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, 300x200 -> x{upscalers[0].scale}, {dtype}, best of {rounds}"
    )
    for name, seconds in zip((first, second), best):
        print(f"{name}: {seconds:7.2f} s ({1 / seconds:.3f} frames/s)")
    print(f"{first} is {best[1] / best[0]:.2f}x as fast as {second}")
    print(f"PSNR between their outputs: {psnr(outputs[0], outputs[1]):.2f} dB")


def compact_generator() -> torch.nn.Module:
    """The zoo's realesr-general-x4v3: cached or downloaded, else installed into the cache
    from ../shared's copy of its ncnn files (`rwsr models install`, the offline path)."""
    try:
        return load_generator(COMPACT, progress=False).model
    except WeightsUnavailableError:
        files = [COMPACT_NCNN.with_suffix(".param"), COMPACT_NCNN.with_suffix(".bin")]
        print(f"{COMPACT}: not downloadable here; installing it from {files[0].parent}")
        install(COMPACT, files)
        return load_generator(COMPACT).model


def compact(rounds: int, width: int, height: int, precision: str) -> None:
    """realesr-general-x4v3 through the engine and the default model through the engine,
    alternating, each keeping its best time; then ncnn's CPU engine on the compact weights.
    PSNR (RGB, 8-bit, whole image) against the compact network's plain fp32 forward.
    `precision`: the engine's (auto: bf16 on AMX/AVX512-BF16 CPUs; the zoo's reference speed
    is fp32)."""
    keep_freed_memory()  # as the `rwsr` command does
    image = test_photo(width, height)
    model = compact_generator()
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        reference = from_float(
            copy.deepcopy(model).float().eval()(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        )
    upscalers = {
        name: Upscaler(generator, precision=precision)
        for name, generator in (
            (COMPACT, model),
            (DEFAULT_MODEL, load_generator(DEFAULT_MODEL).model),
        )
    }
    for upscaler in upscalers.values():
        upscaler.upscale(image[:32, :32])
    times: dict[str, list[float]] = {name: [] for name in upscalers}
    outputs = {}
    for _ in range(rounds):
        for name, upscaler in upscalers.items():
            start = time.perf_counter()
            outputs[name] = upscaler.upscale(image)
            times[name].append(time.perf_counter() - start)
    best = {name: min(seconds) for name, seconds in times.items()}
    fast = best[COMPACT]
    dtype = str(upscalers[COMPACT].dtype).removeprefix("torch.")
    megapixels = width * height / 1e6
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {width}x{height} -> x4,"
        f" engine in {dtype}, best of {rounds}"
    )
    print(
        f"{COMPACT} engine:  {fast:7.2f} s  ({1 / fast:.3f} frames/s, {fast / megapixels:.1f}"
        f" s/MP); PSNR vs its fp32 forward {psnr(outputs[COMPACT], reference):.2f} dB"
    )
    print(
        f"{DEFAULT_MODEL} engine: {best[DEFAULT_MODEL]:7.2f} s; {COMPACT} is"
        f" {best[DEFAULT_MODEL] / fast:.2f}x as fast; PSNR between the two models' outputs"
        f" {psnr(outputs[COMPACT], outputs[DEFAULT_MODEL]):.2f} dB (how far apart, not quality)"
    )
    measured = ncnn_forward(rounds, COMPACT_NCNN, image)
    if measured is None:
        print("ncnn: skipped (pip install ncnn; needs ../shared/models/ncnn)")
    else:
        ncnn_seconds, ncnn_out = measured
        print(
            f"ncnn CPU, same weights: {ncnn_seconds:7.2f} s  ({1 / ncnn_seconds:.3f} frames/s);"
            f" the engine is {ncnn_seconds / fast:.2f}x as fast; PSNR ncnn vs fp32"
            f" {psnr(ncnn_out, reference):.2f} dB"
        )
    print(
        f"zoo entry: cpu_speed=CpuSpeed({fast / megapixels:.1f}, date=..., machine=..."
        f' {dtype}, how="rwsr\'s engine, {fast:.2f} s for a {width}x{height} photo at x4")'
    )


def memory_child() -> None:
    image = test_photo(2000, 1500)
    upscaler = Upscaler(load_generator(DEFAULT_MODEL).model)
    start = time.perf_counter()
    out = upscaler.upscale(image)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"2000x1500 -> {out.shape[1]}x{out.shape[0]}: {seconds:.1f} s, tile {upscaler.auto_tile()},"
        f" peak RSS {peak_mb:.0f} MB (target <= 3072 MB)"
    )


# The engine before tiles were blended and rounded on the device (host-side numpy blending).
OLD_ENGINE = "cab9c561fc09dc8882f9172eeec243103fffacb4"


class InstantX4(torch.nn.Module):
    """A stand-in x4 generator that costs nothing per call: the output of each input shape
    (nearest x4, channels_last as the real model's) is made once and handed out again."""

    def __init__(self) -> None:
        super().__init__()
        self.config = RRDBNetConfig(scale=4)
        self.unit = torch.nn.Parameter(torch.ones(1))  # the engine moves and copies a module
        self.outputs: dict[tuple[int, ...], torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        if shape not in self.outputs:
            upsampled = torch.nn.functional.interpolate(x * self.unit, scale_factor=4)
            self.outputs[shape] = upsampled.contiguous(memory_format=torch.channels_last)
        return self.outputs[shape]


def old_engine() -> object | None:
    """rwsr/upscale/engine.py as of OLD_ENGINE, imported as its own module; None where git or
    that commit is missing."""
    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{OLD_ENGINE}:src/rwsr/upscale/engine.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "old_engine.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("old_engine", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def host_overhead(rounds: int, device: str) -> None:
    """Milliseconds of `upscale` around an instant generator on `device`, old engine and new
    alternating, each keeping its best time."""
    keep_freed_memory()  # as the `rwsr` command does
    old = old_engine()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}, fp32, instant"
        f" x4 generator, best of {rounds}; old engine:"
        f" {OLD_ENGINE[:10] if old else 'unavailable'}"
    )
    cases = [("300x200, one tile", 300, 200, 300)]
    cases += [(f"2000x1500, {tile} px tiles", 2000, 1500, tile) for tile in (1440, 320)]
    for label, width, height, tile in cases:
        image = test_photo(width, height)
        settings = {"device": device, "precision": "fp32", "tile": tile}
        engines = {"new": Upscaler(InstantX4(), **settings)}
        if old is not None:
            engines["old"] = old.Upscaler(InstantX4(), **settings)
        outputs = {name: engine.upscale(image) for name, engine in engines.items()}  # warm-up
        times: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(rounds):
            for name, engine in engines.items():
                start = time.perf_counter()
                engine.upscale(image)
                times[name].append(time.perf_counter() - start)
        new_ms = min(times["new"]) * 1e3
        line = f"{label}: new {new_ms:8.1f} ms"
        if old is not None:
            old_ms = min(times["old"]) * 1e3
            same = np.array_equal(outputs["new"], outputs["old"])
            line += (
                f", old {old_ms:8.1f} ms: {old_ms / new_ms:5.1f}x less;"
                f" outputs {'bit-identical' if same else 'DIFFER'}"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--memory", action="store_true", help="measure peak RSS for a 2000x1500 input"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    parser.add_argument("--pair", nargs=2, metavar=("A", "B"), help="time two models")
    parser.add_argument(
        "--openvino",
        action="store_true",
        help="also time OpenVINO on the CPU (pip install openvino; minutes of conversion)",
    )
    parser.add_argument(
        "--compact",
        action="store_true",
        help=f"time {COMPACT} beside ncnn on the same weights and {DEFAULT_MODEL}",
    )
    parser.add_argument(
        "--size",
        nargs=2,
        type=int,
        default=(300, 200),
        metavar=("W", "H"),
        help="input size for --compact",
    )
    parser.add_argument(
        "--precision", default="auto", help="engine precision for --compact: auto, fp32, bf16"
    )
    parser.add_argument(
        "--host-overhead",
        action="store_true",
        help="time the engine's own work with an instant generator, new engine vs old",
    )
    parser.add_argument("--device", default="cpu", help="device for --host-overhead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plain-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_child:
        plain_forward(args.rounds, args.plain_child)
    elif args.child:
        keep_freed_memory()  # as the `rwsr` command does
        memory_child()
    elif args.pair:
        pair(*args.pair, args.rounds)
    elif args.host_overhead:
        host_overhead(args.rounds, args.device)
    elif args.compact:
        compact(args.rounds, *args.size, args.precision)
    elif args.memory:
        # A fresh process, so the peak is this job's alone.
        subprocess.run([sys.executable, __file__, "--child"], check=True)
    else:
        speed(args.rounds, args.openvino)


if __name__ == "__main__":
    main()
