"""The paper presets resolve to the numbers of the paper (Sec. IV-A, Tables III-X) and of the
authors' train_ntire.yml / train_aim.yml, and every ablation row changes only what its row
names, on the base the paper ran it on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rwsr.models.edl import RWSREDL, EDLHeadConfig, RWSREDLConfig
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.train.config import TrainConfig, load_config
from rwsr.train.losses import loss_inputs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
NTIRE_SCHEDULE = [10_000, 30_000, 50_000, 80_000, 120_000]


def preset(name: str) -> TrainConfig:
    return load_config(CONFIGS / f"{name}.yaml", check_paths=False)


def sources(config: TrainConfig) -> list[tuple[str, str | None]]:
    return [(s.layout, s.split) for s in config.data.sources]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preset_validates_and_is_named_for_its_file(path: Path) -> None:
    assert load_config(path, check_paths=False).name == path.stem


def test_realsr_is_the_papers_main_setting() -> None:
    config = preset("realsr_x4")
    # 200 RealSR pairs + 800 clean DIV2K + NGDC-selected NTIRE2020 auxiliary pairs (Sec. IV-A)
    assert sources(config) == [("realsr", "train"), ("clean", None), ("paired", None)]
    assert config.data.noise_bank == Path("data/realsr_ngdc/bank")
    assert all(s.noise for s in config.data.sources) and config.data.noise_probability == 1.0
    assert (config.data.hr_patch, config.data.batch_size, config.data.augment) == (128, 16, True)
    assert (config.validation.layout, config.validation.split) == ("realsr", "test")
    assert config.model.generator == "rwsr-edl-x4" and config.model.head is None
    assert config.model.init_from == Path("pretrained/RRDB_PSNR_x4.pth")
    assert config.model.discriminator == "patchgan"
    loss = config.loss
    assert (loss.routing, loss.pix, loss.per, loss.adv) == ("literal", 0.01, 1.0, 0.005)
    assert loss.perceptual_net == "vgg19" and loss.vgg_layers is None  # conv5_4
    optim = config.optim
    assert (optim.iterations, optim.milestones, optim.gamma) == (150_000, NTIRE_SCHEDULE, 0.5)
    assert (optim.lr_g, optim.lr_d, optim.betas) == (1e-4, 1e-4, (0.9, 0.999))


def test_camerasr_is_x1_city100_with_clean_images_and_ngdc() -> None:
    config = preset("camerasr_x1")
    assert sources(config) == [("city100", "train"), ("clean", None), ("paired", None)]
    assert config.data.noise_bank == Path("data/camerasr_ngdc/bank")
    assert (config.validation.layout, config.validation.split) == ("city100", "test")
    assert config.model.generator == "rwsr-edl-x1"
    assert config.model.init_from == Path("pretrained/RRDB_PSNR_x4.pth")
    assert (config.loss.pix, config.loss.per, config.loss.adv) == (0.01, 1.0, 0.005)
    assert config.optim.iterations == 150_000


def test_ntire2020_has_no_auxiliary_set() -> None:
    config = preset("ntire2020_x4")
    # 2650 noisy sources (pairs with clean-up 2) + 800 clean targets; NGDC off
    assert sources(config) == [("paired", None), ("clean", None)]
    assert [s.root for s in config.data.sources] == [
        Path("data/ntire2020_pairs"),
        Path("data/NTIRE2020/Corrupted-tr-y"),
    ]
    assert config.data.noise_bank == Path("data/ntire2020_bank")
    assert (config.validation.layout, config.validation.split) == ("ntire2020", "valid")
    assert (config.loss.pix, config.loss.per, config.loss.adv) == (0.01, 1.0, 0.005)
    assert config.optim.milestones == NTIRE_SCHEDULE
    assert config.model.init_from == Path("pretrained/RRDB_PSNR_x4.pth")


def test_aim2019_follows_train_aim_yml() -> None:
    config = preset("aim2019_x4")
    assert (config.loss.pix, config.loss.per, config.loss.adv) == (0.1, 1.0, 0.001)
    assert config.optim.iterations == 350_000
    assert config.optim.milestones == [35_000, 80_000, 100_000, 150_000]
    assert config.model.init_from is None  # pretrain_model_G: ~
    assert (config.validation.layout, config.validation.every) == ("aim2019", 5000)
    assert sources(config) == [("paired", None), ("clean", None)]


def test_tables_vii_viii_run_on_realsr_with_noise_augmentation_only() -> None:
    base = preset("ablation_t7_dual_mask")
    assert sources(base) == [("realsr", "train")]
    assert base.data.noise_bank == Path("data/realsr_bank")
    assert base.model.head is None and base.model.discriminator == "patchgan"
    no_mask = preset("ablation_t7_dual_no_mask")
    assert no_mask.model.head.mask == "fixed" and no_mask.model.head.branches == 2
    single = preset("ablation_t7_single_branch")
    assert single.model.head.branches == 1 and single.loss.routing == "weighted-sum"
    assert preset("ablation_t8_vgg128").model.discriminator == "vgg128"
    for row in (no_mask, single, preset("ablation_t8_vgg128")):
        assert row.data == base.data and row.optim == base.optim


def differences(a: TrainConfig, b: TrainConfig) -> dict[str, tuple[object, object]]:
    """The leaves where two resolved configs differ (dotted paths; lists by index), name aside."""

    def leaves(value: object, path: str) -> dict[str, object]:
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = ((str(i), v) for i, v in enumerate(value))
        else:
            return {path: value}
        return {k: v for key, item in items for k, v in leaves(item, f"{path}.{key}").items()}

    left, right = leaves(a.model_dump(), "config"), leaves(b.model_dump(), "config")
    return {
        path.removeprefix("config."): (left.get(path), right.get(path))
        for path in sorted(left.keys() | right.keys())
        if path != "config.name" and left.get(path) != right.get(path)
    }


def test_each_table_ix_row_changes_one_thing_from_the_row_before() -> None:
    """w/o noise -> w/ augmentation: the noise bank; -> +aux w/o NGDC: every NTIRE2020 image as
    a second source; -> +aux w/ NGDC: that source and the bank become NGDC's output. Otherwise
    a row's gain could come from something its name does not say."""
    no_noise, augmented = preset("ablation_t9_no_noise"), preset("ablation_t7_dual_mask")
    without, with_ngdc = preset("ablation_t9_aux_without_ngdc"), preset("ablation_t9_aux_with_ngdc")
    assert differences(no_noise, augmented) == {"data.noise_bank": (None, Path("data/realsr_bank"))}
    added = differences(augmented, without)
    assert {path.rsplit(".", 1)[0] for path in added} == {"data.sources.1"}
    assert all(old is None for old, _ in added.values())  # a source added, nothing else
    assert (without.data.sources[1].root, without.data.sources[1].layout) == (
        Path("data/ntire2020_all_pairs"),
        "paired",
    )
    assert differences(without, with_ngdc) == {
        "data.sources.1.name": ("ntire2020-all", "ntire2020-ngdc"),
        "data.sources.1.root": (Path("data/ntire2020_all_pairs"), Path("data/realsr_ngdc")),
        "data.noise_bank": (Path("data/realsr_bank"), Path("data/realsr_ngdc/bank")),
    }
    # The full method (Table I) is the last row plus the clean DIV2K images.
    full = differences(with_ngdc, preset("realsr_x4"))
    assert {path.rsplit(".", 1)[0] for path in full} == {"data.sources.1", "data.sources.2"}
    assert preset("realsr_x4").data.sources[1].layout == "clean"


def test_table_x_rows_change_only_the_losses() -> None:
    base = preset("realsr_x4")
    rows = {
        "ablation_t10_eq7": ("weighted-sum", 0.01, 1.0, 0.005),
        "ablation_t10_pix": ("weighted-sum", 1.0, 0.0, 0.0),
        "ablation_t10_pix_per": ("literal", 0.01, 1.0, 0.0),
        "ablation_t10_pix_adv": ("exclusionary", 0.01, 0.0, 0.005),
    }
    for name, expected in rows.items():
        config = preset(name)
        loss = config.loss
        assert (loss.routing, loss.pix, loss.per, loss.adv) == expected, name
        assert config.data == base.data and config.model == base.model, name


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preset_supervises_the_fused_output(path: Path) -> None:
    """The output a row is evaluated on, I_SR, must be what at least one loss compares with
    HR: under the literal routing a pix-only (or pix+adv) row would see only the branch terms."""
    config = load_config(path, check_paths=False)
    head = config.model.head or EDLHeadConfig()
    torch.manual_seed(0)
    model = RWSREDL(
        RWSREDLConfig(
            rrdb=RRDBNetConfig(nf=8, nb=1, gc=4, scale=1),
            head=head.model_copy(update={"nf": 8, "init": "default"}),
        )
    )
    out = model(torch.rand(2, 3, 16, 16), return_terms=True)
    inputs = loss_inputs(out, config.loss.routing)
    active = [name for name in ("pix", "per", "adv") if getattr(config.loss, name) > 0]
    assert any(torch.equal(inputs[name], out.sr) for name in active), active
    hr = torch.rand(2, 3, 16, 16)
    pix_or_per = next(name for name in ("pix", "per") if name in active)
    torch.nn.functional.l1_loss(inputs[pix_or_per], hr).backward()
    assert all(p.grad is not None for p in model.rrdb.parameters())
