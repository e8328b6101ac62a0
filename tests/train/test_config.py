"""Training configs: every preset validates; mistakes get one clear line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import ConfigError
from rwsr.train import trainer
from rwsr.train.config import apply_override, load_config

REPO = Path(__file__).resolve().parents[2]


def test_problems_are_listed_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\n"
        f"data: {{sources: [{{root: {tmp_path}}}], bach_size: 3, hr_patch: many}}\n"
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
        f"name: x\ndata: {{sources: [{{root: {tmp_path / 'nowhere'}}}],"
        f" noise_bank: {tmp_path / 'bank'}}}\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"data\.sources\.0\.root: .*nowhere does not exist\n  data\.noise_bank: .*bank does not",
    ):
        load_config(path)
    path.write_text(
        f"name: x\ndata: {{sources: [{{root: {tmp_path}}}], hr_patch: 64}}\nmodel: {{discriminator: vgg128}}\n"
    )
    with pytest.raises(ConfigError, match="vgg128 needs data.hr_patch 128, not 64"):
        load_config(path)
    path.write_text(
        f"name: x\ndata: {{sources: [{{root: {tmp_path}}}]}}\nvalidation: {{best_metric: lpips, lpips: false}}\n"
    )
    with pytest.raises(ConfigError, match="best_metric lpips needs validation.lpips true"):
        load_config(path)
    path.write_text(
        f"name: x\ndata: {{sources: [{{root: {tmp_path}}}]}}\nmodel: {{head: {{branches: 1}}}}\n"
    )
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


def test_device_and_precision_options_win_over_config_and_overrides(
    city100_crops: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = []
    monkeypatch.setattr(trainer, "train", lambda config, **_: trained.append(config) or tmp_path)
    tiny = REPO / "configs" / "tiny_cpu.yaml"  # precision: fp32, device left at auto
    command = ["train", str(tiny), f"data.sources.0.root={city100_crops}", f"output_dir={tmp_path}"]
    command += ["precision=bf16", "--precision", "auto", "--device", "cpu"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert (trained[0].device, trained[0].precision) == ("cpu", "auto")
    result = CliRunner().invoke(app, [*command, "--precision", "half"])
    assert result.exit_code == 2 and "precision: Input should be 'auto'" in result.output


@pytest.mark.parametrize("name", ["../../escaped_run", "a/b", "..", "x" * 256])
def test_a_run_name_is_one_folder_name(name: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"name: x\ndata: {{sources: [{{root: {tmp_path}}}]}}\n")
    with pytest.raises(ConfigError, match="name: must be a single folder name"):
        load_config(path, [f"name={name}"])


def test_override_values_and_config_files_that_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"name: x\ndata: {{sources: [{{root: {tmp_path}}}]}}\n")
    with pytest.raises(ConfigError, match="'optim.milestones': the value is not valid YAML"):
        load_config(path, ["optim.milestones=[1, 2"])
    with pytest.raises(ConfigError, match=r"'data.sources' has 1 entries, so '3' is not one"):
        load_config(path, ["data.sources.3.root=x"])
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr_g=.inf", "optim.lr_g: Input should be a finite number"),
        ("optim.lr_d=inf", "optim.lr_d: Input should be a finite number"),
        ("optim.lr_g=1e30", "optim.lr_g: Input should be less than or equal to 1"),
        ("loss.adv=.inf", "loss.adv: Input should be a finite number"),
        ("loss.vgg_layers={conv2_2: .nan}", "loss.vgg_layers.conv2_2: Input should be a finite"),
        ("loss.vgg_layers={conv2_2: -1}", "loss.vgg_layers.conv2_2: Input should be greater"),
        ("loss.vgg_layers={conv2_2: 0}", "loss.vgg_layers: every weight is 0"),
        ("optim.betas=[0.9, 1.5]", "optim.betas.1: Input should be less than 1"),
        ("optim.gamma=.nan", "optim.gamma: Input should be a finite number"),
        ("optim.milestones=[0, 5]", "optim.milestones.0: Input should be greater than or equal"),
        ("data.sources.0.share=.inf", "data.sources.0.share: Input should be a finite number"),
        ("seed=4294967296", "seed: Input should be less than or equal to 4294967295"),
        ("optim.grad_clip=0", "optim.grad_clip: Input should be greater than 0"),
        ("optim.grad_clip=.nan", "optim.grad_clip: Input should be a finite number"),
        ("optim.warmup=-1", "optim.warmup: Input should be greater than or equal to 0"),
        ("optim.accumulate=0", "optim.accumulate: Input should be greater than or equal to 1"),
    ],
)
def test_numbers_must_be_finite_and_in_range(override: str, message: str) -> None:
    """A NaN or infinite weight or rate (or a rate no network survives) is a config error,
    not a run whose first step makes every weight NaN."""
    with pytest.raises(ConfigError, match="1 problem") as caught:
        load_config(REPO / "configs" / "tiny_cpu.yaml", [override], check_paths=False)
    assert message in str(caught.value)
