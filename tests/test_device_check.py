"""experiments/device_check.py --smoke: every stage of the GPU check runs tiny on the CPU, so the
script is known to work before a GPU is lent, and its weights come back whole."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rwsr.models.checkpoint import load_model

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_device_check_runs_every_stage_in_smoke_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "device_check.py"),
            "--smoke",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads((out / "device_check.json").read_text())
    stages = figures["stages"]
    assert list(stages) == [
        "environment",
        "cuda_tests",
        "bench",
        "large_photo",
        "train_steps",
        "camerasr_finetune",
        "camerasr_gan",
    ]
    assert all(stage["ok"] for stage in stages.values())
    assert stages["large_photo"]["output"] == "480x360"
    steps = stages["train_steps"]["rows"]
    assert steps and all(row["s_per_it"] > 0 and 0 <= row["data_wait_share"] < 1 for row in steps)
    for stage, arch in (("camerasr_finetune", "rrdbnet"), ("camerasr_gan", "rwsr-edl")):
        record = stages[stage]
        pieces = [out / name for name in record["weights_pieces"]]
        assert all(piece.stat().st_size <= 15 * 2**20 for piece in pieces)
        whole = b"".join(piece.read_bytes() for piece in pieces)
        assert hashlib.sha256(whole).hexdigest() == record["weights_sha256"]
        joined = tmp_path / f"{stage}.safetensors"
        joined.write_bytes(whole)
        assert load_model(joined).config.arch == arch
