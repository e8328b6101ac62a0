"""Image quality metrics of the paper (Sec. IV-A): PSNR, SSIM, LPIPS, NIQE.

Import the module you need (`rwsr.metrics.psnr_ssim`, `.lpips`, `.niqe`); nothing is imported
eagerly here, so `import rwsr.metrics.psnr_ssim` never loads torchvision or the lpips package.

Conventions shared by every metric (`rwsr.metrics.color`): images are HxWx3 RGB (or a batch
NxHxWx3), uint8/uint16 as read from files, or float in [0, 1]; maths runs in float64 on the
0-255 scale, like MATLAB on uint8 images. Y is ITU-R BT.601 luma on the 16-235 range.
"""
