"""rwsr: real-world image super-resolution by exclusionary dual-learning (RWSR-EDL).

Importing the package loads nothing heavy; import the submodule you need
(`rwsr.models`, `rwsr.data`, ...). Model contract everywhere: NCHW float
tensors, RGB, values in [0, 1].
"""

__version__ = "0.1.0"
