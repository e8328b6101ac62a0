"""Write what the device check's CameraSR stages need, small enough to travel with the tree.

    python experiments/device_payload.py -o .device

The device tool copies at most 64 MiB with the working tree (../shared stays behind), so:
- OUT/city100: the centre 288x400 of City100 iPhone X pairs 021-090 (HR and LR, as PNG;
  23% of each 600x840 photo) and the noise bank of the full LR photos (data/camerasr_cpu_bank,
  `rwsr noise collect ... --split fit --patch 128`), for `device_check.py --data`;
- OUT/l1.fp16.safetensors: the CPU L1 phase's final EMA generator (runs/camerasr_x1_u4_l1) in
  float16, the GAN phase's start (`--init`);
- OUT/vgg16_features.fp16.pth: torchvision's ImageNet VGG16 convolutions in float16 (the
  classifier is not used by the perceptual loss), for `--vgg`.
The GAN phase runs under bf16 autocast there, so float16 copies lose nothing it would keep.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from reproduce import SHARED

from rwsr.imageio import read_image, write_image
from rwsr.models.checkpoint import load_model, save_model

REPO = Path(__file__).resolve().parents[1]
CITY100 = SHARED / "datasets" / "city100_iphonex_train"
BANK = REPO / "data" / "camerasr_cpu_bank"
L1_RUN = REPO / "runs" / "camerasr_x1_u4_l1" / "generator.safetensors"
VGG16 = SHARED / "models" / "imagenet" / "vgg16-397923af.pth"
CROP = (288, 400)  # height, width


def centre_crops(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for number in range(21, 91):
        for side in "HL":
            image = read_image(CITY100 / f"{number:03d}{side}.PNG")
            top = (image.shape[0] - CROP[0]) // 2
            left = (image.shape[1] - CROP[1]) // 2
            window = image[top : top + CROP[0], left : left + CROP[1]]
            write_image(target / f"{number:03d}{side}.PNG", window, overwrite=True)
    shutil.copytree(BANK, target / "bank", dirs_exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    for needed in (CITY100, BANK, L1_RUN, VGG16):
        if not needed.exists():
            raise SystemExit(f"{needed}: not found (see the docstring for what makes it)")
    args.output.mkdir(parents=True, exist_ok=True)
    centre_crops(args.output / "city100")
    loaded = load_model(L1_RUN)
    save_model(
        loaded.model,
        args.output / "l1.fp16.safetensors",
        dtype=torch.float16,
        overwrite=True,
        metadata={"source": f"{L1_RUN.relative_to(REPO)} in float16, for the device"},
    )
    state = torch.load(VGG16, map_location="cpu", weights_only=True)
    features = {k: v.half() for k, v in state.items() if k.startswith("features.")}
    torch.save(features, args.output / "vgg16_features.fp16.pth")
    for path in sorted(args.output.iterdir()):
        size = (
            sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size
        )
        print(f"{path}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
