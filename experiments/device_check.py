"""The device check: what rwsr does on a GPU, measured by one command within a time budget.

    python experiments/device_check.py --out DIR [--data DIR] [--budget 450] [--smoke]

Stages, in order. Each is timed; a failing stage is recorded with its error and the next one
runs; DIR/device_check.json is rewritten after every stage, so a run cut short still returns
what it measured. Stages that would not end inside --budget are shortened or skipped, and
say so.

1. environment: torch, CUDA, the GPU and its compute capability, what `auto` precision picks.
2. cuda_tests: the test suite's CUDA tests (`pytest -m cuda`).
3. bench: the paper's Table VI, frames/s on a 300x200 photo at x4 (one `Upscaler.upscale` call
   per frame, host to device and back) of RWSR-EDL (rwsr-edl-x4, random weights: speed only)
   and the default model, in fp32, fp16 and bf16. Paper: 0.7632 frames/s on a V100.
4. large_photo: a 4000x3000 photo (the bundled sample, enlarged) at x4 with the default model
   and the automatic tile: seconds, the tile, peak GPU memory and host memory; then one
   1536 px tile (the automatic CUDA tile before it was bounded by 2^31 elements per tensor),
   to see whether the device refuses it and the retry catches that.
5. train_steps: the paper model (rwsr-edl-x4, global batch 16, 128 px HR crops, Eq. 8 routing
   as the authors' code, PatchGAN, VGG19 conv5_4 with RANDOM weights: the same cost, timing
   only) through the real training loop (`rwsr.train.trainer.train`) on x4 pairs made from
   --data: s/it and the share of the time spent waiting for data, over 100 steps after 40
   warm-up steps, in the variants of VARIANTS (bf16 and fp32; channels_last; torch.compile).
6. camerasr_finetune: the CameraSR recipe's L1 phase (configs/camerasr_x1_u4_l1.yaml: the x1
   pixel-unshuffle-4 RRDB started from x4plus, L1, EMA 0.999) at the paper's batch 16 and 128
   px crops on --data's City100 pairs 021-090 with DATA/bank as the noise bank, for as many
   iterations as the budget leaves (rate halved at 80%). Its EMA weights come back in fp16,
   split into pieces of at most 15 MiB (`cat` joins them; the JSON has the sha256 of the
   whole), to be scored on 091-100 where the LPIPS weights are.
7. camerasr_gan: the recipe's RWSR-EDL GAN phase (configs/camerasr_x1_u4_gan.yaml: Eq. 8
   routing as the authors' code, PatchGAN, VGG16 conv5_3 from --vgg, EMA 0.999) from --init
   (default: the CPU L1 phase's final EMA generator), batch, crops, budget and the weights'
   return as camerasr_finetune.

--smoke runs every stage tiny on the CPU in fp32 (a small RRDB, a few steps, small images, no
compile variant; the bundled x4plus for the fine-tune's start): the test suite runs it, so the script is known to work
before a GPU is lent. --data is a City100-layout folder (NNNH.PNG + NNNL.PNG, optional bank/);
the default is the test fixtures' crops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import torch

from rwsr.atomic import write_bytes_atomic, write_text_atomic
from rwsr.data.imresize import imresize
from rwsr.device import resolve_device, resolve_precision
from rwsr.eval.bench import Target, bench_model, environment
from rwsr.imageio import read_image, write_image
from rwsr.models.catalog import architecture_config, build_model
from rwsr.models.checkpoint import load_model, save_model
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.models.zoo import DEFAULT_MODEL, load_generator
from rwsr.train.config import load_config
from rwsr.train.logs import read_log
from rwsr.train.trainer import perceptual_description, train
from rwsr.upscale.engine import Upscaler

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "city100"
SAMPLE = REPO / "src" / "rwsr" / "assets" / "sample.png"
PIECE_BYTES = 15 * 2**20  # the device tool brings files of at most 16 MiB back
# (label, overrides) of the paper-model timing runs; the first is the recipe as configured.
VARIANTS = [
    ("bf16", ["precision=bf16"]),
    ("bf16 channels_last", ["precision=bf16", "speed.channels_last=true"]),
    ("fp32 (tf32)", ["precision=fp32"]),
    (
        "bf16 channels_last compile",
        ["precision=bf16", "speed.channels_last=true", "speed.compile=true"],
    ),
]
# Seconds of the budget kept for the CameraSR fine-tune: a timing variant starts only above it.
FINETUNE_RESERVE = 230
# The GAN phase's start: the CPU L1 phase's EMA generator (carried in fp16 to the device).
DEFAULT_GAN_INIT = REPO / "runs" / "camerasr_x1_u4_l1" / "generator.safetensors"
SMOKE_GAN_INIT = REPO / "src" / "rwsr" / "weights" / "realesrgan-x4plus.safetensors"
# A small RRDB for the smoke run: the code paths of the real one, milliseconds per step.
SMOKE_RRDB = RRDBNetConfig(scale=4, nb=1, nf=8, gc=4)


class Check:
    """The figures of one run, written to OUT/device_check.json after every stage."""

    def __init__(self, out: Path, budget: float, smoke: bool) -> None:
        self.out, self.budget, self.smoke = out, budget, smoke
        self.start = time.monotonic()
        self.figures: dict[str, Any] = {"smoke": smoke, "budget_s": budget, "stages": {}}

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start)

    def stage(self, name: str, work: Callable[[dict[str, Any]], None]) -> None:
        record: dict[str, Any] = {}
        self.figures["stages"][name] = record
        began = time.monotonic()
        print(f"== {name} ({self.left():.0f} s of the budget left)", flush=True)
        try:
            work(record)
            record["ok"] = True
        except Exception as error:  # noqa: BLE001 - a failing stage is a figure; the next runs
            record["ok"] = False
            record["error"] = f"{type(error).__name__}: {error}"[:2000]
            traceback.print_exc()
        record["seconds"] = round(time.monotonic() - began, 2)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.save()

    def save(self) -> None:
        text = json.dumps(self.figures, indent=1, default=str) + "\n"
        write_text_atomic(self.out / "device_check.json", text, overwrite=True)


def device_name() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def paper_generator(smoke: bool) -> torch.nn.Module:
    """RWSR-EDL x4 as the paper's Table VI counts it (random weights: speed only)."""
    config = architecture_config("rwsr-edl-x4")
    if smoke:
        config = config.model_copy(update={"rrdb": SMOKE_RRDB})
    return build_model(config)


def default_generator(smoke: bool) -> torch.nn.Module:
    return (
        build_model(SMOKE_RRDB) if smoke else (load_generator(DEFAULT_MODEL, progress=False).model)
    )


# ----------------------------------------------------------------------------- stages


def environment_stage(check: Check, record: dict[str, Any]) -> None:
    record.update(environment())
    device = resolve_device("auto")
    record["device"] = str(device)
    record["auto_precision"] = str(resolve_precision("auto", device)).removeprefix("torch.")
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        record["capability"] = f"{props.major}.{props.minor}"
        record["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        record["multiprocessors"] = props.multi_processor_count
    record["cpu_count"] = psutil.cpu_count()


def cuda_tests_stage(check: Check, record: dict[str, Any]) -> None:
    # Collection alone took 12 s on the H200 (2026-12-04), and 50 s did not finish them.
    limit = min(180.0, max(10.0, check.left() * 0.3))
    command = [
        *(sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"),
        "--continue-on-collection-errors",  # test modules of tools the device lacks (ncnn)
    ]
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=limit, check=False
        )
    except subprocess.TimeoutExpired:
        record["result"] = f"stopped after {limit:.0f} s"
        return
    lines = (done.stdout + done.stderr).strip().splitlines()
    record["exit_code"] = done.returncode
    record["result"] = lines[-1] if lines else ""
    record["failures"] = [line for line in lines if line.startswith(("FAILED", "ERROR"))][:20]
    if done.returncode not in (0, 5):  # 5: no test collected (no CUDA)
        print("\n".join(lines[-40:]))


def bench_stage(check: Check, record: dict[str, Any]) -> None:
    device = device_name()
    precisions = ["fp32", "fp16", "bf16"] if device == "cuda" else ["fp32"]
    size = (300, 200) if not check.smoke else (40, 30)
    rows: list[dict[str, Any]] = []
    record["size"] = f"{size[0]}x{size[1]}"
    record["rows"] = rows  # rows measured stay when a later model fails to load
    record["paper_v100_frames_per_second"] = 0.7632
    for label, make in (("rwsr-edl-x4", paper_generator), (DEFAULT_MODEL, default_generator)):
        try:
            make(check.smoke)
        except Exception as error:  # noqa: BLE001 - a device without the file: no row, a note
            rows.append({"model": label, "error": f"{type(error).__name__}: {error}"[:300]})
            continue
        for precision in precisions:
            result = bench_model(
                label,
                make(check.smoke),  # a fresh copy for each precision
                Target(device, precision),
                size=size,
                repeats=10 if device == "cuda" else 2,
                warmup=3 if device == "cuda" else 1,
            )
            rows.append(
                {
                    "model": label,
                    "precision": precision,
                    "parameters": result.parameters,
                    "seconds": round(result.seconds, 5),
                    "frames_per_second": round(result.frames_per_second, 2),
                }
            )
            print(f"{label} {precision}: {result.frames_per_second:.2f} frames/s", flush=True)


def enlarged_sample(width: int, height: int) -> np.ndarray:
    """The bundled sample photo enlarged to width x height (bicubic): a photo-like input."""
    photo = read_image(SAMPLE)[:, :, :3]
    return cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC)


def large_photo_stage(check: Check, record: dict[str, Any]) -> None:
    device = device_name()
    width, height = (4000, 3000) if not check.smoke else (120, 90)
    image = enlarged_sample(width, height)
    upscaler = Upscaler(default_generator(check.smoke), device=device, precision="auto")
    record["input"] = f"{width}x{height}"
    record["precision"] = str(upscaler.dtype).removeprefix("torch.")
    record["auto_tile"] = upscaler.auto_tile()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = psutil.Process().memory_info().rss
    began = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = upscaler.upscale(image)
    record["seconds"] = round(time.perf_counter() - began, 2)
    record["output"] = f"{out.shape[1]}x{out.shape[0]}"
    record["warnings"] = [str(w.message)[:300] for w in caught]
    record["host_rss_growth_gib"] = round(
        (psutil.Process().memory_info().rss - rss_before) / 2**30, 2
    )
    if device == "cuda":
        record["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del out
    probe_tile = 1536 if not check.smoke else 64
    probe = Upscaler(
        default_generator(check.smoke), device=device, precision="auto", tile=probe_tile
    )
    began = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe.upscale(enlarged_sample(probe_tile + 64, probe_tile + 64))
    record["tile_probe"] = {
        "tile": probe_tile,
        "seconds": round(time.perf_counter() - began, 2),
        "warnings": [str(w.message)[:300] for w in caught],
    }


def x4_pairs(source: Path, target: Path, count: int) -> Path:
    """x4 pairs (paired layout) for the paper model: the City100 HR photos of `source` and
    their MATLAB-bicubic quarter-size versions."""
    for path in sorted(source.glob("*H.PNG"))[:count]:
        hr = read_image(path)[:, :, :3]
        hr = np.ascontiguousarray(hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4])
        write_image(target / "HR" / f"{path.stem}.png", hr)
        write_image(target / "LR" / f"{path.stem}.png", imresize(hr, 0.25))
    return target


def timed_windows(run_dir: Path, warmup_steps: int) -> dict[str, float]:
    """Seconds per step and data-wait share over the log windows after `warmup_steps`."""
    windows = [
        r
        for r in read_log(run_dir / "log.jsonl")
        if r["kind"] == "train" and r["iteration"] > warmup_steps
    ]
    return {
        "timed_steps": windows[-1]["iteration"] - warmup_steps,
        "s_per_it": round(1 / statistics.median(r["it_per_s"] for r in windows), 4),
        "data_wait_share": round(statistics.median(r["data_wait"] for r in windows), 4),
    }


def data_overrides(check: Check, source: str, bank: Path) -> list[str]:
    """One data source, the bank if there is one, the paper's batch 16 of 128 px crops."""
    return [
        f"data.sources=[{source}]",
        f"data.noise_bank={bank if bank.is_dir() else 'null'}",
        "data.batch_size=16" if not check.smoke else "data.batch_size=2",
        "data.hr_patch=128" if not check.smoke else "data.hr_patch=32",
    ]


def train_steps_stage(check: Check, record: dict[str, Any], data: Path, work: Path) -> None:
    pairs = x4_pairs(data, work / "x4_pairs", count=70)
    bank = data / "bank"
    warmup, timed, window = (40, 100, 20) if not check.smoke else (2, 2, 1)
    base = [
        *data_overrides(check, f"{{layout: paired, root: {pairs}, scale: 4}}", bank),
        "model.init_from=null",
        "validation.root=null",
        "loss.allow_random_vgg=true",
        f"optim.iterations={warmup + timed}",
        f"log_every={window}",
        f"checkpoint_every={10 * (warmup + timed)}",
        f"output_dir={work / 'paper'}",
        f"device={device_name()}",
    ]
    if check.smoke:
        base += [
            f"model.rrdb={SMOKE_RRDB.model_dump_json()}",  # JSON is YAML
            "data.workers=0",
            "loss.vgg_layers={conv2_2: 1.0}",
        ]
    record["recipe"] = (
        "rwsr-edl-x4, configs/realsr_x4.yaml's losses and optimiser, random VGG19 conv5_4,"
        f" x4 pairs from {data.name} (noise bank: {bank.is_dir()})"
    )
    rows = []
    record["rows"] = rows
    for label, overrides in VARIANTS:
        if check.smoke:  # fp32, and no compile: it takes a minute on two cores
            if "speed.compile=true" in overrides:
                continue
            overrides = [o for o in overrides if o != "precision=bf16"] + ["precision=fp32"]
        if check.left() < FINETUNE_RESERVE and rows:
            rows.append({"variant": label, "skipped": f"{check.left():.0f} s of the budget left"})
            continue
        config = load_config(
            REPO / "configs" / "realsr_x4.yaml", [*base, *overrides, f"name=paper_{len(rows)}"]
        )
        began = time.perf_counter()
        try:
            run_dir = train(config, progress=False)
        except Exception as error:  # noqa: BLE001 - one variant's failure is its figure
            rows.append({"variant": label, "error": f"{type(error).__name__}: {error}"[:600]})
            continue
        row = {"variant": label, "wall_s": round(time.perf_counter() - began, 1)}
        row |= timed_windows(run_dir, warmup)
        rows.append(row)
        print(row, flush=True)
        check.save()


def recipe_stage(
    check: Check,
    record: dict[str, Any],
    work: Path,
    *,
    phase: str,
    overrides: list[str],
) -> None:
    """One phase of the CameraSR recipe (configs/camerasr_x1_u4_{phase}.yaml) at the paper's batch
    and crops, for as many iterations as the budget leaves (a probe run gives the rate; the rate
    halved at 80%); its EMA generator comes back in fp16 pieces."""
    config_file = REPO / "configs" / f"camerasr_x1_u4_{phase}.yaml"
    base = [
        *overrides,
        "validation.root=null",
        "validation.lpips_backbone=null",
        f"output_dir={work / 'camerasr'}",
        f"device={device_name()}",
        "precision=auto" if not check.smoke else "precision=fp32",
        "speed.channels_last=true",
    ]
    if check.smoke:
        base.append("data.workers=0")
    probe_steps = 40 if not check.smoke else 2
    probe = load_config(
        config_file,
        [
            *base,
            f"name=probe_{phase}",
            f"optim.iterations={probe_steps}",
            f"log_every={probe_steps // 2}",
            f"checkpoint_every={probe_steps}",
            "optim.milestones=[1000000]",
        ],
    )
    probe_dir = train(probe, progress=False)
    rate = read_log(probe_dir / "log.jsonl")[-1]["it_per_s"]
    seconds = max(0.0, check.left() - 30)  # export and the JSON need the rest
    iterations = 4 if check.smoke else max(100, min(20000, int(seconds * rate * 0.9) // 100 * 100))
    record["probe_it_per_s"] = round(rate, 2)
    record["iterations"] = iterations
    check.save()
    name = f"camerasr_x1_u4_{phase}_gpu"
    config = load_config(
        config_file,
        [
            *base,
            f"name={name}",
            f"optim.iterations={iterations}",
            f"optim.milestones=[{max(1, int(iterations * 0.8))}]",
            f"log_every={max(1, iterations // 40)}",
            f"checkpoint_every={iterations}",
        ],
    )
    began = time.perf_counter()
    run_dir = train(config, progress=False)
    record["train_s"] = round(time.perf_counter() - began, 1)
    log = [r for r in read_log(run_dir / "log.jsonl") if r["kind"] == "train"]
    record["s_per_it"] = round(1 / statistics.median(r["it_per_s"] for r in log), 4)
    record["data_wait_share"] = round(statistics.median(r["data_wait"] for r in log), 4)
    record["pix_first_last"] = [round(log[0]["pix"], 5), round(log[-1]["pix"], 5)]
    (check.out / f"camerasr_{phase}_log.jsonl").write_bytes((run_dir / "log.jsonl").read_bytes())
    half = work / f"{name}.fp16.safetensors"
    loaded = load_model(run_dir / "generator.safetensors")
    save_model(
        loaded.model,
        half,
        dtype=torch.float16,
        metadata={
            "source": f"experiments/device_check.py camerasr_{phase}, {iterations} it,"
            f" batch {config.data.batch_size}, {config.data.hr_patch} px crops",
            "perceptual_net": perceptual_description(config),
        },
    )
    whole = half.read_bytes()
    record["weights_sha256"] = hashlib.sha256(whole).hexdigest()
    record["weights_pieces"] = []
    for index in range(math.ceil(len(whole) / PIECE_BYTES)):
        piece = f"{half.name}.part{index}"
        write_bytes_atomic(
            check.out / piece, whole[index * PIECE_BYTES : (index + 1) * PIECE_BYTES]
        )
        record["weights_pieces"].append(piece)


def camerasr_data(check: Check, data: Path) -> list[str]:
    return data_overrides(check, f"{{layout: city100, root: {data}, split: fit}}", data / "bank")


def finetune_stage(check: Check, record: dict[str, Any], data: Path, work: Path) -> None:
    """The L1 phase from x4plus (the config's init_from), no perceptual loss."""
    overrides = [*camerasr_data(check, data), "loss.vgg_weights=null"]
    recipe_stage(check, record, work, phase="l1", overrides=overrides)


def gan_stage(
    check: Check,
    record: dict[str, Any],
    data: Path,
    work: Path,
    init: Path | None,
    vgg: Path | None,
) -> None:
    """The RWSR-EDL GAN phase (Eq. 8 routing, PatchGAN, VGG16 conv5_3) from `init`, the L1
    phase's generator (None: DEFAULT_GAN_INIT; the smoke run's: the bundled x4plus, widened);
    `vgg` the VGG16 weights (None: random, the smoke run's)."""
    if init is None:
        init = SMOKE_GAN_INIT if check.smoke else DEFAULT_GAN_INIT
    overrides = [*camerasr_data(check, data), f"model.init_from={init}"]
    if vgg is None:
        overrides += ["loss.vgg_weights=null", "loss.allow_random_vgg=true"]
    else:
        overrides.append(f"loss.vgg_weights={vgg}")
    if check.smoke:
        overrides.append("loss.vgg_layers={conv2_2: 1.0}")
    record["init"] = init.name
    record["vgg"] = vgg.name if vgg else "random (smoke)"
    recipe_stage(check, record, work, phase="gan", overrides=overrides)


# ----------------------------------------------------------------------------- main


STAGES = [
    "environment",
    "cuda_tests",
    "bench",
    "large_photo",
    "train_steps",
    "camerasr_finetune",
    "camerasr_gan",
]


def run_check(
    out: Path,
    *,
    data: Path,
    budget: float,
    smoke: bool,
    stages: list[str] = STAGES,
    init: Path | None = None,
    vgg: Path | None = None,
) -> dict[str, Any]:
    """The chosen stages in order; returns the figures (also in out/device_check.json)."""
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out, budget, smoke)
    with tempfile.TemporaryDirectory(prefix="rwsr-device-check-") as scratch:
        work = Path(scratch)
        works = {
            "environment": lambda r: environment_stage(check, r),
            "cuda_tests": lambda r: cuda_tests_stage(check, r),
            "bench": lambda r: bench_stage(check, r),
            "large_photo": lambda r: large_photo_stage(check, r),
            "train_steps": lambda r: train_steps_stage(check, r, data, work),
            "camerasr_finetune": lambda r: finetune_stage(check, r, data, work),
            "camerasr_gan": lambda r: gan_stage(check, r, data, work, init, vgg),
        }
        for name in stages:
            check.stage(name, works[name])
    check.figures["total_s"] = round(time.monotonic() - check.start, 1)
    check.save()
    return check.figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures")
    parser.add_argument("--data", type=Path, default=FIXTURES, help="City100-layout pairs")
    parser.add_argument("--budget", type=float, default=450, help="seconds for all stages")
    parser.add_argument("--smoke", action="store_true", help="every stage tiny, on the CPU")
    parser.add_argument("--init", type=Path, help=f"camerasr_gan's G; default {DEFAULT_GAN_INIT}")
    parser.add_argument(
        "--vgg", type=Path, help="camerasr_gan: VGG16 ImageNet weights (torchvision keys)"
    )
    parser.add_argument(
        "--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}"
    )
    args = parser.parse_args()
    stages = args.stages.split(",")
    unknown = [name for name in stages if name not in STAGES]
    if unknown:
        parser.error(f"--stages: unknown {', '.join(unknown)}; the stages: {', '.join(STAGES)}")
    if args.smoke:
        torch.cuda.is_available = lambda: False  # the smoke run is the CPU's, on any machine
    if "camerasr_gan" in stages and not args.smoke and args.vgg is None:
        parser.error("--vgg: the camerasr_gan stage needs VGG16's ImageNet weights")
    figures = run_check(
        args.out,
        data=args.data,
        budget=args.budget,
        smoke=args.smoke,
        stages=stages,
        init=args.init,
        vgg=args.vgg,
    )
    failed = [name for name, stage in figures["stages"].items() if not stage.get("ok")]
    print(json.dumps(figures, indent=1, default=str))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
