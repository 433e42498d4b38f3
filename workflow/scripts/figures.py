"""Figures of one dataset x scale x degradation: per-image spread, visual comparison."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.report import result_figures

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    result_figures(
        Path(snakemake.input.per_image),
        Path(snakemake.input.hr),
        dict(zip(snakemake.params.methods, map(Path, snakemake.input.sr), strict=True)),
        Path(snakemake.output.metrics).parent,
        dataset=w.dataset,
        scale=int(w.scale),
        degradation=w.degradation,
    )
