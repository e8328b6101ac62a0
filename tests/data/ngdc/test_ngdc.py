"""NGDC (Algorithm 1) on synthetic sets with known noise: who is kept, what is banked, resume."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from noise_images import in_flat_quadrant
from typer.testing import CliRunner

import rwsr.data.pairs as pairs_module
from rwsr.cli.main import app
from rwsr.data.imresize import imresize
from rwsr.data.ngdc.auxiliary import NgdcConfig, run_ngdc
from rwsr.data.ngdc.bank import open_bank
from rwsr.data.ngdc.cati import NoiseSamplingConfig
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import read_image, write_image

CONFIG = NgdcConfig(sampling=NoiseSamplingConfig(patch=32, percentile=25))


@pytest.fixture
def sets(noisy_folder: Callable[..., Path]) -> tuple[Path, Path]:
    target = noisy_folder("target", [4.0, 4.0, 4.0])
    aux = noisy_folder("aux", [4.0, 4.0, 0.0, 0.0, 16.0, 16.0], first_seed=100)
    return target, aux


def test_keeps_matching_aux_images_and_drops_clean_and_much_noisier_ones(
    sets: tuple[Path, Path], tmp_path: Path
) -> None:
    target, aux = sets
    result = run_ngdc(target, aux, tmp_path / "out", config=CONFIG, progress=False)
    status = {Path(r.path).name: r for r in result.records}
    assert [n for n, r in status.items() if r.role == "aux" and r.status == "kept"] == [
        "aux_100_s4.png",
        "aux_101_s4.png",
    ]
    assert "0 cleaner" not in status["aux_102_s0.png"].reason
    assert status["aux_102_s0.png"].reason.startswith("no window in the CATI: 48 cleaner")
    assert status["aux_104_s16.png"].reason.startswith("noisier than the CATI")
    assert all(r.status == "kept" for r in result.records if r.role == "target")

    out = tmp_path / "out"
    names = sorted(p.name for p in (out / "HR").iterdir())
    assert names == [
        "aux_aux_100_s4.png",
        "aux_aux_101_s4.png",
        "target_000_s4.png",
        "target_001_s4.png",
        "target_002_s4.png",
    ]
    assert sorted(p.name for p in (out / "LR").iterdir()) == names
    assert read_image(out / "HR" / names[0]).shape == (128, 128, 3)  # 256 / clean-up 2
    assert read_image(out / "LR" / names[0]).shape == (32, 32, 3)

    bank = open_bank(out / "bank")
    roles = [bank.index["roles"][s] for s in bank.index["entries"]["source"]]
    assert roles.count("aux") > 0 and roles.count("target") > 0
    assert len(bank) == result.bank_patches == len(roles)
    kept_aux = {str(aux / "aux_100_s4.png"), str(aux / "aux_101_s4.png")}
    for source, y, x in zip(
        bank.index["entries"]["source"], bank.index["entries"]["y"], bank.index["entries"]["x"]
    ):
        path = bank.index["sources"][source]
        assert path.startswith(str(target)) or path in kept_aux
        assert in_flat_quadrant(y, x, 32)
    report = json.loads((out / "report.json").read_text())
    assert report["images"]["aux"] == {"kept": 2, "dropped": 4, "failed": 0}


def comparable(out: Path) -> dict[str, object]:
    files: dict[str, object] = {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in ("report.json", "report.md", "report.png")
    }
    report = json.loads((out / "report.json").read_text())
    for key in ("wall_seconds", "phase_seconds", "megapixels_per_second"):
        report.pop(key)
    report["totals"].pop("pairs")  # "5 written" vs "2 written, 3 already done"
    files["report.json"] = report
    return files


def test_interrupted_run_resumes_to_the_same_output(
    sets: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, aux = sets
    run_ngdc(target, aux, tmp_path / "whole", config=CONFIG, progress=False)
    original = pairs_module.write_pair
    calls = {"n": 0}

    def interrupted(*args: object, **kwargs: object) -> str:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pairs_module, "write_pair", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ngdc(target, aux, tmp_path / "resumed", config=CONFIG, progress=False)
    assert not (tmp_path / "resumed" / "bank").exists()
    monkeypatch.setattr(pairs_module, "write_pair", original)
    result = run_ngdc(target, aux, tmp_path / "resumed", config=CONFIG, progress=False)
    assert result.resumed and len(result.pairs.skipped) == 3 and len(result.pairs.written) == 2
    assert comparable(tmp_path / "resumed") == comparable(tmp_path / "whole")


def test_rerun_with_other_settings_is_refused(sets: tuple[Path, Path], tmp_path: Path) -> None:
    target, aux = sets
    run_ngdc(target, aux, tmp_path / "out", config=CONFIG, progress=False)
    other = CONFIG.model_copy(update={"min_in_cati": 3})
    with pytest.raises(ConfigError, match="min_in_cati: 1 -> 3"):
        run_ngdc(target, aux, tmp_path / "out", config=other, progress=False)


def test_result_says_what_was_kept_and_what_failed(sets: tuple[Path, Path], tmp_path: Path) -> None:
    """The line `rwsr ngdc` prints after OUT, and one error per unreadable image, from the
    result itself."""
    target, aux = sets
    (aux / "broken.png").write_bytes(b"not a PNG")
    result = run_ngdc(target, aux, tmp_path / "out", config=CONFIG, progress=False)
    assert result.line() == (
        "3 target and 2 of 7 auxiliary images kept; 5 pairs written, 0 already done, 0 failed; "
        f"{result.bank_patches} bank patches"
    )
    (error,) = result.errors
    assert "broken.png" in error and not result.ok
    again = run_ngdc(target, aux, tmp_path / "out", config=CONFIG, progress=False)
    resumed = f"5 already done, 0 failed; {result.bank_patches} bank patches (resumed)"
    assert again.line().endswith(f"0 pairs written, {resumed}")


def test_unusable_output_folder_is_refused_before_any_scan_in_python(
    sets: tuple[Path, Path], unusable_output: tuple[Path, str]
) -> None:
    target, aux = sets
    out, problem = unusable_output
    with pytest.raises(InputError, match=re.escape(problem)) as error:
        run_ngdc(target, aux, out, config=CONFIG, progress=False)
    assert str(error.value).startswith(f"-o {out}: ")


def test_cli_runs_algorithm_one(sets: tuple[Path, Path], tmp_path: Path) -> None:
    target, aux = sets
    args = [
        "ngdc",
        "--target",
        str(target),
        "--aux",
        str(aux),
        "-o",
        str(tmp_path / "out"),
        "--patch",
        "32",
        "--percentile",
        "25",
        "--scale",
        "2",
        "--workers",
        "1",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 target and 2 of 6 auxiliary images kept" in result.output
    assert read_image(tmp_path / "out" / "LR" / "target_000_s4.png").shape == (64, 64, 3)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "(resumed)" in again.output
    assert np.asarray(open_bank(tmp_path / "out" / "bank").patches).shape[1:] == (32, 32, 3)


def test_fixed_rule_replaces_the_cati_for_target_and_auxiliary_sets(
    sets: tuple[Path, Path], tmp_path: Path
) -> None:
    """The authors' fixed rule (variance < 20 on 32 px windows here): sigma 4 windows (variance
    ~7) pass, sigma 16 windows (~114) do not, and the clean ones (~0) pass too, since a fixed
    bound has no lower end."""
    target, aux = sets
    config = NgdcConfig(sampling=NoiseSamplingConfig(patch=32, max_variance=20))
    result = run_ngdc(target, aux, tmp_path / "out", config=config, progress=False)
    kept = sorted(
        Path(r.path).name for r in result.records if r.role == "aux" and r.status == "kept"
    )
    assert kept == ["aux_100_s4.png", "aux_101_s4.png", "aux_102_s0.png", "aux_103_s0.png"]
    assert result.cati.rule == "fixed" and result.cati.variance[1] < 20


def test_overwrite_leaves_no_pair_or_patch_of_the_earlier_run(
    sets: tuple[Path, Path], tmp_path: Path
) -> None:
    target, aux = sets
    out = tmp_path / "out"
    run_ngdc(target, aux, out, config=CONFIG, export_png=True, progress=False)
    assert (out / "HR" / "aux_aux_100_s4.png").exists() and (out / "bank" / "png").is_dir()
    strict = CONFIG.model_copy(update={"min_in_cati": 64})  # no auxiliary image has 64
    result = run_ngdc(target, aux, out, config=strict, overwrite=True, progress=False)
    report = json.loads((out / "report.json").read_text())
    assert report["auxiliary"]["kept"] == [] and not result.resumed
    targets = ["target_000_s4.png", "target_001_s4.png", "target_002_s4.png"]
    for side in ("HR", "LR"):
        assert sorted(p.name for p in (out / side).iterdir()) == targets
    assert sorted(p.name for p in (out / "bank").iterdir()) == ["index.json", "patches.npy"]
    assert set(open_bank(out / "bank").index["roles"]) == {"target"}


def test_a_target_and_an_aux_image_with_one_pair_name_are_refused_before_any_work(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    target = noisy_folder("target", [4.0, 4.0])
    aux = noisy_folder("aux", [4.0], first_seed=100)
    shutil.copy(aux / "aux_100_s4.png", target / "aux_aux_100_s4.png")  # = the aux pair's name
    with pytest.raises(ConfigError) as error:
        run_ngdc(target, aux, tmp_path / "out", config=CONFIG, progress=False)
    message = str(error.value)
    assert str(target / "aux_aux_100_s4.png") in message and str(aux / "aux_100_s4.png") in message
    assert "would both be written as aux_aux_100_s4.png" in message
    assert not (tmp_path / "out").exists()


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_real_pair_target_city100_keeps_its_pairs_and_banks_its_lr_noise(
    ngdc_sets: tuple[Path, Path], tmp_path: Path
) -> None:
    """The paper's main setting: City100 (real x1 pairs) as target, other photos as
    auxiliary set. Three pairs and four photos (two of which match the iPhone's noise)."""
    (target, aux), out = ngdc_sets, tmp_path / "out"
    before = digests(target)
    args = ["ngdc", "--target", str(target), "--target-layout", "city100", "--aux", str(aux)]
    args += ["-o", str(out), "--patch", "32", "--percentile", "40", "--x1-blur", "2"]
    args += ["--workers", "1", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 target pairs used in place" in result.output
    assert digests(target) == before  # byte-identical, nothing added

    written = digests(out)
    assert not set(written.values()) & set(before.values())  # no target file copied into OUT
    kept = ["050.png", "064.png"]
    for side in ("HR", "LR"):
        assert sorted(p.name for p in (out / side).iterdir()) == [f"aux_{n}" for n in kept]
    hr, lr = read_image(out / "HR" / "aux_050.png"), read_image(out / "LR" / "aux_050.png")
    # The paper's clean-up by 2 by default: its auxiliary set is noisy source photos.
    assert np.array_equal(hr, imresize(read_image(aux / "050.png"), 0.5))
    assert np.array_equal(lr, imresize(imresize(hr, 0.5), size=hr.shape[:2]))  # the x1 recipe

    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == {
        "name": "real-pair",
        "text": "real-pair target: CATI from the target LR images, 3 target pairs used in place",
    }
    listed = [(p["name"], Path(p["lr"]).name, Path(p["hr"]).name) for p in report["target_pairs"]]
    assert listed == [(f"{n:03d}", f"{n:03d}L.PNG", f"{n:03d}H.PNG") for n in range(21, 24)]
    assert report["settings"]["pairs"] == {"scale": 1, "cleanup": 2, "x1_blur": 2}
    low, high = report["cati"]["variance"]
    assert 0 < low < high < 20
    assert [Path(a["path"]).name for a in report["auxiliary"]["kept"]] == kept
    dropped = {Path(a["path"]).name: a["reason"] for a in report["auxiliary"]["dropped"]}
    assert sorted(dropped) == ["033.png", "091.png"]
    assert dropped["033.png"].startswith("noisier than the CATI")
    markdown = (out / "report.md").read_text()
    assert "real-pair target: CATI from the target LR images" in markdown
    assert "| 021 | " in markdown and "021L.PNG" in markdown
    assert "- 033.png: noisier than the CATI" in markdown

    bank = open_bank(out / "bank")
    sources = [Path(s) for s in bank.index["sources"]]
    from_target = [s for s, role in zip(sources, bank.index["roles"]) if role == "target"]
    assert from_target and all(s.parent == target and s.name.endswith("L.PNG") for s in from_target)
    assert report["totals"]["bank patches from target LR images"] > 8
    assert report["totals"]["bank patches from aux"] > 0

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "(resumed)" in again.output
    assert digests(target) == before


def test_real_pair_target_refuses_what_does_not_apply(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    aux = noisy_folder("aux", [4.0], first_seed=100)
    root = tmp_path / "pairs"
    for side in ("HR", "LR"):
        write_image(root / side / "p.png", read_image(aux / "aux_100_s4.png"))
    x1 = CONFIG.model_copy(update={"pairs": pairs_module.PairsConfig(scale=1)})
    cleanup = CONFIG.model_copy(update={"pairs": pairs_module.PairsConfig(scale=1, cleanup=2)})
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="clean-up .* does not apply"):
        run_ngdc(root, aux, out, target_layout="paired", config=cleanup, progress=False)
    with pytest.raises(ConfigError, match="give --target-layout"):
        run_ngdc(root, aux, out, target_split="train", progress=False)
    with pytest.raises(ConfigError, match="input images lie in the output folder"):
        run_ngdc(root, aux, root, target_layout="paired", config=x1, progress=False)
    assert not out.exists() and not (root / ".rwsr-run.json").exists()
    result = run_ngdc(root, aux, out, target_layout="paired", config=x1, progress=False)
    assert result.mode == "real-pair" and [p.name for p in result.target_pairs] == ["p"]
    assert sorted(p.name for p in (out / "HR").iterdir()) == ["aux_aux_100_s4.png"]


def test_unusable_output_folder_is_refused_before_any_scan(
    sets: tuple[Path, Path], unusable_output: tuple[Path, str]
) -> None:
    target, aux = sets
    out, problem = unusable_output
    args = ["ngdc", "--target", str(target), "--aux", str(aux), "-o", str(out), "--patch", "32"]
    result = CliRunner().invoke(app, [*args, "--workers", "1", "--no-progress"])
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and line.startswith(f"error: -o {out}: ") and problem in line
    assert "CATI" not in result.output
