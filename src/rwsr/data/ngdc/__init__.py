"""Noise sampling and noise-guided data collection (NGDC, paper Sec. III-E, Algorithm 1).

Algorithm 1, step by step, and where each step lives:

1. Cut every image of the target set D_a into windows and measure each window's luma mean
   and variance: `patches.patch_statistics` (one image), `scan.scan_set` (a set, in
   parallel worker processes).
2. Take the CharAcTeristic Interval (CATI) of the target's noise: the [min, max] of variance
   and mean over the flattest `percentile`% windows: `cati.compute_cati`
   (`cati.NoiseSamplingConfig` holds the settings, `cati.Cati` the interval).
3. Keep the target windows inside the CATI as the noise bank, used for noise injection at
   training time: `collect.select_windows`, `bank.write_bank` / `bank.open_bank`;
   `collect.collect_noise` does steps 1-3 for one set (`rwsr noise collect`).
4. Apply the same CATI to the auxiliary set D_b and keep the images with enough windows
   inside it (they carry the target's kind of noise): `auxiliary.run_ngdc`
   (`rwsr ngdc`), which also writes the kept images' training pairs (Eq. 9-10) and adds
   their in-CATI windows to the bank.
5. Say what was kept, dropped and why: `report.write_report`.
"""
