"""Training speed: iterations/s, achieved TFLOP/s and where a step's time goes, for the CPU
preset (configs/camerasr_x1_cpu.yaml) and the paper model (rwsr-edl-x4, batch 16, HR 128), in
each precision named, measured in one run and alternating, so the ratios hold on a host whose
speed drifts.

    python benchmarks/bench_train.py [--steps 4] [--precision auto,bf16] [--paper-steps 2]
        [--paper-precision auto] [--variants channels_last,compile]

Needs ../shared (City100 pairs, BSD100 photos, VGG16 weights; a random VGG16 of the same cost
where the weights are absent). FLOPs are counted by torch.utils.flop_counter on one step
(convolutions and matrix products, forward and backward), so TFLOP/s = counted FLOPs / s;
"of GEMM" compares it with a large matrix product (2048^3) in the same precision, timed in the
same alternating rounds; "convolutions" is their share of a profiled step (torch.profiler).
--variants adds the CPU preset (first precision) with a change of the step that a careful
engineer would try, so each is measured against the default in the same run: channels_last
(G, D, VGG and the batches in NHWC), compile (torch.compile of G, D and VGG; the first step's
compile time is printed, not counted).
The breakdown times the pieces of one step on their own: G forward+backward (L1 loss only),
the VGG forward (SR and HR) with its backward, the D step, the optimisers.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from profiling import convolution_share  # benchmarks/profiling.py, beside this script
from torch.utils.flop_counter import FlopCounterMode

from rwsr.cli.common import keep_freed_memory
from rwsr.data.imresize import imresize
from rwsr.imageio import read_image, write_image
from rwsr.train import trainer
from rwsr.train.config import load_config

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CITY100 = SHARED / "datasets" / "city100_iphonex_train"
VGG16 = SHARED / "models" / "imagenet" / "vgg16-397923af.pth"


def vgg_overrides() -> list[str]:
    if VGG16.is_file():
        return [f"loss.vgg_weights={VGG16}"]
    return ["loss.allow_random_vgg=true", "loss.vgg_weights=null"]


def x4_pairs(folder: Path, count: int = 16) -> Path:
    """Real x4 pairs for the paper model: City100 HR crops (512 px) and their MATLAB-bicubic
    quarter-size versions."""
    for number in range(21, 21 + count):
        hr = np.ascontiguousarray(read_image(CITY100 / f"{number:03d}H.PNG")[:512, :512])
        write_image(folder / "HR" / f"{number:03d}.png", hr)
        write_image(folder / "LR" / f"{number:03d}.png", imresize(hr, 0.25))
    return folder


def cpu_preset(output: Path, precision: str) -> list[str]:
    return [
        f"data.sources.0.root={CITY100}",
        f"data.sources.1.root={SHARED / 'datasets' / 'bsd100_hr'}",
        "data.noise_bank=null",
        "validation.root=null",
        "model.init_from=null",
        f"output_dir={output}",
        f"precision={precision}",
        *vgg_overrides(),
    ]


def paper_model(output: Path, pairs: Path, precision: str) -> list[str]:
    return [
        f"data.sources=[{{layout: paired, root: {pairs}, scale: 4}}]",
        "data.noise_bank=null",
        "data.hr_patch=128",
        "data.batch_size=16",
        "model.generator=rwsr-edl-x4",
        "model.rrdb=null",
        "model.init_from=null",
        "validation.root=null",
        f"output_dir={output}",
        f"precision={precision}",
        *vgg_overrides(),
    ]


class Gemm:
    """A 2048^3 matrix product in `dtype`, timed in the same rounds as the training steps: a
    reference rate of the host's cores (a large GEMM is about the best they do)."""

    SIZE = 2048

    def __init__(self, dtype: torch.dtype) -> None:
        self.a = torch.randn(self.SIZE, self.SIZE, dtype=dtype)
        self.b = torch.randn(self.SIZE, self.SIZE, dtype=dtype)
        self.times: list[float] = []
        self.step()  # warm-up

    def step(self) -> float:
        start = time.perf_counter()
        self.a @ self.b
        return time.perf_counter() - start

    @property
    def tflops(self) -> float:
        return 2 * self.SIZE**3 / statistics.median(self.times) / 1e12


def to_channels_last(run: trainer.Run, batches: list[dict]) -> list[dict]:
    for module in (run.generator, run.discriminator, run.perceptual):
        if module is not None:
            module.to(memory_format=torch.channels_last)
    return [
        {
            k: v.contiguous(memory_format=torch.channels_last) if k in ("lr", "hr") else v
            for k, v in batch.items()
        }
        for batch in batches
    ]


def compiled(run: trainer.Run, batches: list[dict]) -> list[dict]:
    run.generator.compile()
    if run.discriminator is not None:
        run.discriminator.compile()
    if run.perceptual is not None:
        run.perceptual.extractor.compile()
    return batches


VARIANTS = {"channels_last": to_channels_last, "compile": compiled}


class Subject:
    """One configuration, set up once; `step` times one training step."""

    def __init__(self, label: str, overrides: list[str], variant: str | None = None) -> None:
        self.label = label
        self.run = trainer.setup(load_config(REPO / "configs" / "camerasr_x1_cpu.yaml", overrides))
        batches = self.run.data.batches(start_iteration=0)
        self.batches = [next(batches) for _ in range(3)]
        if variant is not None:
            self.batches = VARIANTS[variant](self.run, self.batches)
        self.times: list[float] = []
        self.index = 0
        first = self.step()  # warm-up: first-call allocations, kernel choices, compilation
        if variant == "compile":
            print(f"{label}: first step (compiling) {first:.1f} s")
        with FlopCounterMode(display=False) as counter:
            self.step()
        self.flops = counter.get_total_flops()

    def step(self) -> float:
        batch = self.batches[self.index % len(self.batches)]
        self.index += 1
        start = time.perf_counter()
        trainer.train_step(self.run, batch)
        return time.perf_counter() - start

    def breakdown(self) -> dict[str, float]:
        """Seconds of each piece of a step, timed alone (median of 3)."""
        run, batch = self.run, self.batches[0]
        lr = batch["lr"].to(run.device)
        hr = batch["hr"].to(run.device)

        def timed(work) -> float:
            samples = []
            for _ in range(3):
                start = time.perf_counter()
                work()
                samples.append(time.perf_counter() - start)
            return statistics.median(samples)

        def g_pixel() -> None:
            with run.autocast():
                out = run.generator(lr)
                loss = torch.nn.functional.l1_loss(out, hr)
            loss.backward()

        def perceptual() -> None:
            sr = hr.clone().requires_grad_()
            with run.autocast():
                loss = run.perceptual(sr, hr)
            loss.backward()

        def d_step() -> None:
            with run.autocast():
                loss = trainer.discriminator_loss(run.discriminator, hr * 0.9, hr)
            loss.backward()

        def optimisers() -> None:
            run.opt_g.step()
            if run.opt_d is not None:
                run.opt_d.step()

        parts = {"G forward+backward (L1 only)": timed(g_pixel)}
        if run.perceptual is not None:
            parts["VGG (SR+HR) forward+backward"] = timed(perceptual)
        if run.discriminator is not None:
            parts["D forward+backward (one pass pair)"] = timed(d_step)
        parts["optimisers"] = timed(optimisers)
        return parts


def timed_rounds(rounds: int, subjects: list[Subject], gemms: dict[torch.dtype, Gemm]) -> None:
    """Alternate the subjects and the GEMMs, so drift hits every configuration alike."""
    for _ in range(rounds):
        for subject in [*subjects, *gemms.values()]:
            subject.times.append(subject.step())


def report(subjects: list[Subject], gemms: dict[torch.dtype, Gemm]) -> None:
    print("\n2048^3 GEMM: " + ", ".join(f"{d} {g.tflops:.3f} TFLOP/s" for d, g in gemms.items()))
    reference = statistics.median(subjects[0].times)
    print(
        f"\n| configuration | s/it | it/s | TFLOP/s | of GEMM | convolutions | vs {subjects[0].label} |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for subject in subjects:
        seconds = statistics.median(subject.times)
        tflops = subject.flops / seconds / 1e12
        print(
            f"| {subject.label} | {seconds:.3f} | {1 / seconds:.3f} | {tflops:.3f} |"
            f" {tflops / gemms[subject.run.dtype].tflops:.0%} |"
            f" {convolution_share(subject.step):.0%} | {reference / seconds:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per configuration")
    parser.add_argument("--paper-steps", type=int, default=2, help="0 leaves the paper model out")
    parser.add_argument("--precision", default="auto,bf16", help="comma-separated precisions")
    parser.add_argument(
        "--paper-precision",
        default="auto",
        help="precisions of the paper model (slow in bf16 where the CPU emulates it)",
    )
    parser.add_argument(
        "--variants", default="", help=f"comma-separated step changes to try: {', '.join(VARIANTS)}"
    )
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if unknown := [v for v in variants if v not in VARIANTS]:
        parser.error(f"--variants: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    keep_freed_memory()  # as the `rwsr` command does
    precisions = args.precision.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads;", end=" ")
    print(f"auto precision here = {trainer.resolve_precision('auto', torch.device('cpu'))}")
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder)
        subjects = [Subject(f"CPU preset, {p}", cpu_preset(output / p, p)) for p in precisions]
        subjects += [
            Subject(f"CPU preset, {precisions[0]}, {v}", cpu_preset(output / v, precisions[0]), v)
            for v in variants
        ]
        gemms = {d: Gemm(d) for d in dict.fromkeys(s.run.dtype for s in subjects)}
        timed_rounds(args.steps, subjects, gemms)
        report(subjects, gemms)
        print("\nbreakdown of one CPU-preset step, each piece timed alone (s):")
        for subject in subjects[: len(precisions)]:
            parts = subject.breakdown()
            print(f"  {subject.label}: " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))
        if args.paper_steps:
            pairs = x4_pairs(output / "pairs")
            paper = [
                Subject(f"paper model, batch 16, {p}", paper_model(output / f"x4-{p}", pairs, p))
                for p in args.paper_precision.split(",")
            ]
            gemms = {d: Gemm(d) for d in dict.fromkeys(s.run.dtype for s in paper)}
            timed_rounds(args.paper_steps, paper, gemms)
            report(paper, gemms)


if __name__ == "__main__":
    main()
