"""The shared output check: paths the file system cannot hold are refused before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import InputError
from rwsr.imageio import write_image
from rwsr.outputs import PATH_MAX_BYTES
from rwsr.upscale.batch import OutputNaming, plan_jobs

COMMANDS = {
    "upscale": ["upscale", "{src}/a.png", "--quiet"],
    "pairs": ["pairs", "{src}"],
    "noise collect": ["noise", "collect", "{src}"],
    "ngdc": ["ngdc", "--target", "{src}", "--aux", "{src}"],
}


def _deep(root: Path, size: int) -> Path:
    """A path of at least `size` bytes below `root` whose every name is 200 bytes."""
    path = root
    while len(str(path).encode()) < size:
        path = path / ("d" * 200)
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_path_longer_than_path_max_is_refused_naming_the_option(
    tmp_path: Path, command: str
) -> None:
    """Every name under 255 bytes, the whole path over PATH_MAX: the commands stopped with an
    `OSError: File name too long` traceback."""
    source = tmp_path / "src"
    write_image(source / "a.png", np.full((64, 64, 3), 90, np.uint8))
    out = _deep(tmp_path, PATH_MAX_BYTES + 100)
    args = [arg.format(src=source) for arg in COMMANDS[command]]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: -o {str(tmp_path)[:20]}") and "the path is" in line
    assert f"takes paths of up to {PATH_MAX_BYTES - 1}" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["src"]  # nothing written


def test_upscale_refuses_an_input_subfolder_whose_output_path_would_be_too_long(
    tmp_path: Path,
) -> None:
    """-o fits, but the input tree it mirrors makes an output folder too deep for PATH_MAX."""
    source = tmp_path / "in"
    deep = _deep(source, PATH_MAX_BYTES - 400)
    write_image(deep / "a.png", np.zeros((4, 4, 3), np.uint8))
    naming = OutputNaming(directory=tmp_path / ("o" * 250), suffix="_x4")
    with pytest.raises(InputError, match=f"{deep / 'a.png'}: output folder .* the path is"):
        plan_jobs([source], naming)
