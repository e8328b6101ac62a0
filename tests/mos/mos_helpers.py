"""Helpers of the MOS tests: tiny scenes, study configs, `rwsr mos serve` processes."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwsr.imageio import write_image
from rwsr.mos.config import MethodSource, StudyConfig

# Runs the `mos` sub-app exactly as `rwsr mos ...` does, without importing the model stack.
MOS_CLI = [sys.executable, "-c", "from rwsr.cli.mos import app; app(prog_name='rwsr mos')"]
START_TIMEOUT_S = 60.0


def make_scene(rng: np.random.Generator, height: int = 72, width: int = 96) -> np.ndarray:
    """A smooth colour gradient with texture, so crops at different places differ."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], -1)
    noise = rng.normal(0, 18, (height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_study_dirs(root: Path) -> tuple[Path, dict[str, Path]]:
    """Reference folder (3 images, RealSR-style names) and two method folders of outputs."""
    rng = np.random.default_rng(7)
    reference = root / "hr"
    sharp, blurry = root / "sharp", root / "blurry"
    for folder in (reference, sharp, blurry):
        folder.mkdir()
    for index in range(1, 4):
        scene = make_scene(rng)
        write_image(reference / f"Canon_00{index}_HR.png", scene)
        noisy = np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8)
        write_image(sharp / f"Canon_00{index}_SR.png", noisy)
        write_image(blurry / f"Canon_00{index}.png", (scene // 8 * 8).astype(np.uint8))
    return reference, {"Sharp": sharp, "Blurry": blurry}


def study_config(dirs: tuple[Path, dict[str, Path]], **options: object) -> StudyConfig:
    reference, methods = dirs
    sources = tuple(MethodSource(name=n, directory=d) for n, d in methods.items())
    settings = {"patches": 6, "patch_size": 16, **options}
    return StudyConfig(reference=reference, methods=sources, **settings)


@dataclass
class ServerProcess:
    """A running `rwsr mos serve`; `url` ends with '/'."""

    process: subprocess.Popen[str]
    url: str
    output: list[str]

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, like a crash or a pulled plug."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def start_server(db: Path, *args: str) -> ServerProcess:
    """Start `rwsr mos serve --db DB --port 0 ARGS` and wait for its 'serving at' line."""
    process = subprocess.Popen(
        [*MOS_CLI, "serve", "--db", str(db), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None and lines.empty():
                break
            continue
        output.append(line)
        match = re.search(r"serving at (http://\S+/)", line)
        if match:
            return ServerProcess(process, match.group(1), output)
    process.kill()
    process.wait(timeout=10)
    raise AssertionError("rwsr mos serve did not start:\n" + "".join(output))
