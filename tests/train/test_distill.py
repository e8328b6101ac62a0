"""`rwsr distill` on three small real photos with a tiny teacher: a few steps end to end, the
exported student and its NOTICE, the teacher cache reused, exact resume, other teachers and
students, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from shared_data import RWSR_EDL_X1  # a small trained x1 RWSR-EDL
from spandrel.architectures.SPAN import SPAN
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import ConfigError, InputError, WeightsUnavailableError
from rwsr.imageio import read_image, write_image
from rwsr.models.checkpoint import load_model, save_model
from rwsr.models.compact import CompactConfig
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig
from rwsr.models.zoo import load_generator, sha256_of
from rwsr.train.distill import build_student, distill
from rwsr.train.distill_config import distill_config
from rwsr.train.teacher_cache import find_photos
from rwsr.upscale.engine import Upscaler

# Three 16 px crops, one per photo, two crops a step: seconds on a CPU.
CLI_OPTIONS = (
    "--crop=16",
    "--crops-per-photo=1",
    "--iterations=3",
    "--batch-size=2",
    "--precision=fp32",
    "--device=cpu",
    "--quiet",
)


@pytest.fixture
def photos(city100_crops: Path, tmp_path: Path) -> Path:
    """Three 64x64 crops of real iPhone X photos (City100 LR 021-023, repository fixtures)."""
    folder = tmp_path / "photos"
    for number in ("021", "022", "023"):
        image = read_image(city100_crops / f"{number}L.PNG")
        write_image(folder / f"{number}.png", np.ascontiguousarray(image[96:160, 96:160]))
    return folder


@pytest.fixture
def teacher(tmp_path: Path) -> Path:
    """A small random x4 RRDBNet (1 block, 8 features) as an rwsr file."""
    torch.manual_seed(0)
    path = tmp_path / "teacher.safetensors"
    save_model(RRDBNet(RRDBNetConfig(scale=4, nb=1, nf=8, gc=4)), path)
    return path


def settings(teacher: Path | str, photos: Path, output: Path, **changes: object):
    options = {
        "crop": 16,
        "crops_per_photo": 1,
        "iterations": 3,
        "batch_size": 2,
        "checkpoint_every": 2,
        "precision": "fp32",
        "device": "cpu",
        **changes,
    }
    return distill_config(teacher=str(teacher), photos=(photos,), output=output, **options)


def run_cli(*arguments: object):
    return CliRunner().invoke(app, ["distill", *map(str, arguments)])


def test_a_few_steps_end_to_end_on_three_small_crops(
    teacher: Path, photos: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = run_cli(teacher, photos, "-o", run, *CLI_OPTIONS)
    assert result.exit_code == 0, result.output
    notice = (run / "NOTICE").read_text()
    assert f"Teacher: {teacher} (SHA-256 {sha256_of(teacher)}), x4, run in float32" in notice
    assert "Photos: 3; crops: 3 (1 per photo, 16x16 px" in notice
    assert "Student: compact-x4, random start, 1,213,296 parameters" in notice
    assert "Training: 3 iterations, batch 2" in notice and "Losses: L1, " in notice
    # One file per photo: its crop and the teacher's output for that crop.
    alone = Upscaler(load_generator(str(teacher)).model, device="cpu", precision="fp32")
    for number in ("021", "022", "023"):
        photo = read_image(photos / f"{number}.png")
        with np.load(
            run / "teacher-cache" / f"{sha256_of(photos / f'{number}.png')[:20]}.npz"
        ) as cached:
            ((top, left),) = cached["boxes"]
            assert np.array_equal(cached["lr"][0], photo[top : top + 16, left : left + 16])
            assert np.array_equal(cached["teacher"][0], alone.upscale(cached["lr"][0]))
    assert len(list((run / "teacher-cache").iterdir())) == 4  # and manifest.json
    # The file `rwsr upscale --model` and `rwsr info` take: float16 EMA weights, the NOTICE.
    student = load_generator(str(run / "student.safetensors"))
    assert student.config == CompactConfig(scale=4) and student.dtype == torch.float16
    assert student.metadata["notice"] == notice
    ema = torch.load(run / "checkpoint.pt", weights_only=True)["generator_ema"]
    assert load_model(run / "checkpoint.pt").config == student.config  # a model file too
    for key, tensor in student.model.state_dict().items():
        assert torch.equal(tensor, ema[key].half().float()), key
    photo = read_image(photos / "021.png")
    upscaled = Upscaler(student.model, device="cpu", precision="fp32").upscale(photo)
    assert upscaled.shape == (256, 256, 3)
    info = CliRunner().invoke(app, ["info", str(run / "student.safetensors")])
    assert info.exit_code == 0 and "meta.notice" in info.output and "compact" in info.output


def test_the_student_learns_the_teachers_outputs(
    teacher: Path, photos: Path, tmp_path: Path
) -> None:
    config = settings(
        teacher,
        photos,
        tmp_path / "run",
        iterations=20,
        batch_size=3,
        lr=1e-3,
        warmup=0,
        ema_decay=0,
    )
    distill(config, progress=False)
    cached = [np.load(path) for path in (tmp_path / "run" / "teacher-cache").glob("*.npz")]
    low, target = (
        torch.from_numpy(np.concatenate([c[name] for c in cached])).permute(0, 3, 1, 2) / 255
        for name in ("lr", "teacher")
    )
    torch.manual_seed(config.seed)
    start, _ = build_student(None, 4, teacher="teacher", crop=16)  # as the run started
    trained = load_generator(str(tmp_path / "run" / "student.safetensors")).model
    with torch.no_grad():
        before = float((start(low).clamp(0, 1) - target).abs().mean())
        after = float((trained(low).clamp(0, 1) - target).abs().mean())
    assert after < 0.5 * before, (before, after)


def test_a_second_run_reuses_the_cache_without_running_the_teacher(
    teacher: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = distill(settings(teacher, photos, tmp_path / "first"), progress=False)
    assert first.computed == 3

    def teacher_ran(*args: object, **kwargs: object) -> None:
        raise AssertionError("the teacher ran again")

    monkeypatch.setattr(Upscaler, "upscale", teacher_ran)
    second = distill(
        settings(teacher, photos, tmp_path / "second", cache=tmp_path / "first" / "teacher-cache"),
        progress=False,
    )
    assert (second.computed, second.crops) == (0, 3)


def test_resume_continues_exactly(teacher: Path, photos: Path, tmp_path: Path) -> None:
    """4 steps in one run equal 2 steps, stop, resume to 4: same weights, EMA and optimiser."""
    distill(settings(teacher, photos, tmp_path / "straight", iterations=4), progress=False)
    distill(settings(teacher, photos, tmp_path / "split", iterations=2), progress=False)
    resumed = distill(
        settings(teacher, photos, tmp_path / "split", iterations=4), resume=True, progress=False
    )
    assert (resumed.iterations, resumed.computed) == (4, 0)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    for part in ("generator", "generator_ema"):
        for key, tensor in a[part].items():
            assert torch.equal(b[part][key], tensor), f"{part}.{key}"
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"] == 4
    # Step 4 of the default 100-step warm-up, in both.
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"]
    assert b["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * 4 / 100)
    with pytest.raises(ConfigError, match=r"lr: 0\.0002 -> 0\.001"):
        distill(
            settings(teacher, photos, tmp_path / "split", iterations=6, lr=1e-3),
            resume=True,
            progress=False,
        )


def test_an_existing_run_needs_resume_or_overwrite(
    teacher: Path, photos: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    assert run_cli(teacher, photos, "-o", run, *CLI_OPTIONS).exit_code == 0
    written = (run / "student.safetensors").read_bytes()
    again = run_cli(teacher, photos, "-o", run, *CLI_OPTIONS)
    assert again.exit_code == 1
    assert f"error: -o {run}: already holds a distillation; pass --resume" in again.output
    assert "Traceback" not in again.output
    assert (run / "student.safetensors").read_bytes() == written
    replaced = run_cli(teacher, photos, "-o", run, *CLI_OPTIONS, "--overwrite", "--seed=1")
    assert replaced.exit_code == 0, replaced.output
    assert (run / "student.safetensors").read_bytes() != written


def test_no_photos_is_a_clear_error(teacher: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a photo")
    result = run_cli(teacher, empty, "-o", tmp_path / "run", *CLI_OPTIONS)
    assert result.exit_code == 1
    assert f"error: no photos in {empty} (looked for " in result.output
    assert "Traceback" not in result.output
    with pytest.raises(InputError, match="PHOTOS: .*missing does not exist"):
        find_photos([tmp_path / "missing"])


def test_a_student_of_another_scale_is_refused(teacher: Path, photos: Path, tmp_path: Path) -> None:
    result = run_cli(teacher, photos, "-o", tmp_path / "run", "--student", "rrdbnet-x2")
    assert result.exit_code == 2
    assert (
        f"error: --student rrdbnet-x2 is x2, but the teacher {teacher} is x4; a student needs"
        " the teacher's scale (without --student: compact-x4)"
    ) in result.output
    assert not (tmp_path / "run").exists()  # refused before the teacher ran


def test_the_teacher_can_be_an_rwsr_edl_model(photos: Path, tmp_path: Path) -> None:
    """A trained x1 RWSR-EDL model (tests/fixtures/models) as the teacher: the student is a
    compact x1."""
    done = distill(settings(RWSR_EDL_X1, photos, tmp_path / "run", iterations=1), progress=False)
    assert load_generator(str(done.model)).config == CompactConfig(scale=1)
    assert "x1, run in float32" in done.notice.read_text()


def test_a_spandrel_student_starts_from_its_file(
    teacher: Path, photos: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    start = tmp_path / "span.pth"
    torch.save(SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=4).state_dict(), start)
    done = distill(
        settings(teacher, photos, tmp_path / "run", student=str(start), ema_decay=0),
        progress=False,
    )
    student = load_generator(str(done.model))
    assert student.config.architecture == "SPAN" and "spandrel" in student.key_format
    assert f"Student: SPAN, started from {start}" in done.notice.read_text()
    trained = student.model.net.state_dict()
    initial = torch.load(start, weights_only=True)
    assert any(not torch.equal(trained[k], v.half().float()) for k, v in initial.items())


def test_a_cache_of_other_settings_is_refused_or_replaced(
    teacher: Path, photos: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    distill(settings(teacher, photos, tmp_path / "a", cache=cache, iterations=1), progress=False)
    other = settings(teacher, photos, tmp_path / "b", cache=cache, crop=24, iterations=1)
    with pytest.raises(ConfigError, match=r"--cache .*other settings \(crop 16 -> 24\)"):
        distill(other, progress=False)
    assert distill(other, overwrite=True, progress=False).computed == 3
    assert len(list(cache.glob("*.npz"))) == 3


def test_the_cache_bound_samples_fewer_crops_or_refuses(
    teacher: Path, photos: Path, tmp_path: Path
) -> None:
    # One 16 px crop and its x4 output: 16 * 16 * 3 * (1 + 16) = 13,056 bytes.
    said: list[str] = []
    done = distill(
        settings(teacher, photos, tmp_path / "a", crops_per_photo=2, max_cache_mb=0.05),
        progress=False,
        say=said.append,
    )
    assert done.crops == 3
    assert "note: --max-cache-mb 0.05 holds 1 crops per photo, not 2" in "\n".join(said)
    with pytest.raises(
        ConfigError, match=r"--max-cache-mb 0.01: 3 photos need 0.04 MB for one crop each"
    ):
        distill(settings(teacher, photos, tmp_path / "b", max_cache_mb=0.01), progress=False)


def test_the_perceptual_loss(
    teacher: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"perceptual": 0.1, "perceptual_net": "vgg16", "iterations": 2}
    # A random VGG, which only tests may ask for, is named as such in the NOTICE.
    done = distill(
        settings(teacher, photos, tmp_path / "a", allow_random_vgg=True, **options),
        progress=False,
    )
    assert (
        "Losses: L1 + 0.1 x perceptual (VGG16 conv5_3, RANDOM weights: tests only)"
        in done.notice.read_text()
    )
    # Without weights offline: refused before the teacher runs, naming the option.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))
    )
    with pytest.raises(WeightsUnavailableError, match="--vgg-weights PATH"):
        distill(settings(teacher, photos, tmp_path / "b", **options), progress=False)
    assert not (tmp_path / "b").exists()


def test_bad_values_name_their_option(teacher: Path, photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--crop: Input should be greater than or equal to 16"):
        settings(teacher, photos, tmp_path / "run", crop=8)
    result = run_cli(teacher, photos, "-o", tmp_path / "run", "--lr", "nan")
    assert result.exit_code == 2 and "error: --lr: " in result.output
    result = run_cli("rrdbnet-x4", photos, "-o", tmp_path / "run")
    assert result.exit_code == 2
    assert "TEACHER 'rrdbnet-x4' is an architecture (random weights)" in result.output
