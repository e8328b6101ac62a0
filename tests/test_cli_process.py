"""The command-line process keeps the memory it frees (see rwsr.cli.common.keep_freed_memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from terminal import as_from_a_terminal

FAULTS_OF_A_FRESH_ARRAY = """
import resource
import numpy as np
from rwsr.cli.common import keep_freed_memory

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    array = np.ones(1 << 25)  # 256 MB, every page written
    del array
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
default = faults()
keep_freed_memory()
faults()  # the first array after the switch moves into the heap
print(default, faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_a_freed_large_array_is_reused_without_page_faults() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_A_FRESH_ARRAY], capture_output=True, text=True, check=True
    )
    default, kept = map(int, result.stdout.split())
    assert default >= 100  # glibc unmaps the freed array; the next one faults in afresh
    assert kept < default / 10


def test_ctrl_c_in_upscale_prints_one_line_and_leaves_no_partial_file(tmp_path) -> None:
    """A real `rwsr upscale` process interrupted mid-image (SIGINT, as Ctrl-C sends): one line
    on stderr, exit status 130, no output or temporary file left behind."""
    import signal

    import numpy as np

    from rwsr.imageio import write_image

    photo = tmp_path / "photo.png"
    write_image(photo, np.random.default_rng(0).integers(0, 256, (480, 480, 3), dtype=np.uint8))
    out = tmp_path / "out"
    process = subprocess.Popen(
        as_from_a_terminal(
            [sys.executable, "-m", "rwsr", "upscale", str(photo), "-o", str(out), "--tile", "64"]
        ),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:  # the status line comes once the model is loaded
        if "image(s)" in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    lines = [line for line in rest.splitlines() if line.strip() and "\r" not in line]
    assert process.returncode == 130, rest
    assert "Traceback" not in rest
    assert lines[-1].startswith("interrupted;")
    assert not out.exists() or not any(out.iterdir())
