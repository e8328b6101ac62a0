"""Training configs: every preset validates; mistakes get one clear line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import ConfigError
from rwsr.train.config import TrainConfig, apply_override, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preset_is_valid(preset: Path, tmp_path: Path) -> None:
    """Presets name data folders of the user's machine; point them at a folder that exists."""
    overrides = [
        f"data.root={tmp_path}",
        "data.noise_bank=null",
        "validation.root=null",
        "model.init_from=null",
        "loss.vgg_weights=null",
    ]
    config = load_config(preset, overrides)
    assert isinstance(config, TrainConfig) and config.name == preset.stem


def test_problems_are_listed_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\n"
        f"data: {{root: {tmp_path}, bach_size: 3, hr_patch: many}}\n"
        "loss: {pix: -1}\n"
        "optim: {iterations: 10}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "3 problem(s)" in message
    assert "data.bach_size: unknown key; did you mean 'batch_size'?" in message
    assert "data.hr_patch: Input should be a valid integer" in message
    assert "loss.pix: Input should be greater than or equal to 0 (got -1)" in message


def test_missing_paths_and_impossible_combinations(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"name: x\ndata: {{root: {tmp_path / 'nowhere'}, noise_bank: {tmp_path / 'bank'}}}\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"data\.root: .*nowhere does not exist\n  data\.noise_bank: .*bank does not exist",
    ):
        load_config(path)
    path.write_text(
        f"name: x\ndata: {{root: {tmp_path}, hr_patch: 64}}\nmodel: {{discriminator: vgg128}}\n"
    )
    with pytest.raises(ConfigError, match="vgg128 needs data.hr_patch 128, not 64"):
        load_config(path)
    path.write_text(
        f"name: x\ndata: {{root: {tmp_path}}}\nvalidation: {{best_metric: lpips, lpips: false}}\n"
    )
    with pytest.raises(ConfigError, match="best_metric lpips needs validation.lpips true"):
        load_config(path)
    path.write_text(f"name: x\ndata: {{root: {tmp_path}}}\nmodel: {{head: {{branches: 1}}}}\n")
    with pytest.raises(ConfigError, match="single-branch head has nothing to exclude"):
        load_config(path)


def test_overrides() -> None:
    raw: dict = {}
    apply_override(raw, "optim.milestones=[1, 2]")
    apply_override(raw, "loss.adv=0")
    assert raw == {"optim": {"milestones": [1, 2]}, "loss": {"adv": 0}}
    with pytest.raises(ConfigError, match="unknown key 'lr'; did you mean 'lr_g' or 'lr_d'"):
        apply_override(raw, "optim.lr=1")
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_override(raw, "optim.lr")


def test_cli_reports_config_errors_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: x\ndata: {root: 3}\nwat: 1\n")
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2
    assert "wat: unknown key" in result.output and "Traceback" not in result.output
