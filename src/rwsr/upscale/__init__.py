"""Upscaling images with a trained generator: device and precision choice, seamless tiling,
image files with their metadata, and batches of files."""
