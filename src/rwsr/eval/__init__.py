"""Evaluation: `rwsr evaluate` (metrics of several methods on one test set, with tables,
figures and an HTML page) and `rwsr bench` (the paper's Table VI: parameters and frame rate).

Modules: samples (which test images, which files of each method), methods (where SR images
come from: folders, models, baselines), scorer (the metrics of one image), runner (the loop),
summary / tables / figures / page (the reports), bench (speed).
"""
