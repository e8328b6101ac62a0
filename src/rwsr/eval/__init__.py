"""Evaluation: `rwsr evaluate` (metrics of several methods on one test set, with tables,
figures and an HTML page) and `rwsr bench` (the paper's Table VI: parameters and frame rate).

Modules: evaluate (the command as a function), samples (which test images, which files of
each method), methods (where SR images come from: folders, models, baselines), scorer (the
metrics of one image under one stated convention), runner (the loop), regions (what the crop
figures show), summary / tables / figures / page / report (the outputs), bench (speed).

Python use: `evaluate.evaluate("eval", hr=..., lr=..., sr=[(name, folder)], models=[...])`
does what `rwsr evaluate` does; for samples and methods of your own,
`runner.evaluate(samples, methods, MetricSettings(...))`, then
`report.write_report(result, folder, title=...)`.
"""
