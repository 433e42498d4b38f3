"""Sigma-scaling and split-conformal factors of an uncertainty source, fitted on the
validation images at the training degradation, and the shift-aware widenings fitted on
the validation images at the other degradations of the run (leaving each out once)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.evaluate import calibrate

with log_to(snakemake.log[0]):
    p, w = snakemake.params, snakemake.wildcards
    profiles = snakemake.input.get("profiles")
    calibrate({degradation: [Path(f) for f in paths] for degradation, paths in p.folders.items()},
              w.degradation, int(w.scale), Path(snakemake.output[0]), p.channel, p.crop,
              p.coverage, profiles=Path(profiles) if profiles else None, quantile=p.quantile)
