"""Sigma-scaling and split-conformal factors of an uncertainty source, fitted on the
validation images: at the training degradation, and the conformal factor at each other
degradation of the run (for flagged inputs)."""

from pathlib import Path

from sruq.stages.evaluate import calibrate
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    p, w = snakemake.params, snakemake.wildcards
    folders = {degradation: [Path(f) for f in paths] for degradation, paths in p.folders.items()}
    calibrate(folders[w.degradation], int(w.scale), Path(snakemake.output[0]), p.channel,
              p.crop, p.coverage,
              shifted={d: f for d, f in folders.items() if d != w.degradation})
