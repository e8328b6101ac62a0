"""The command-line process keeps the memory it frees (see rwsr.cli.common.keep_freed_memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
