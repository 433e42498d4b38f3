"""Uncertainty figures of one dataset x scale x degradation: heatmaps, sparsification
curves, reliability diagram (the heatmaps' titles carry each source's shift verdict, and
a source's std is widened where its shift-aware intervals widen the image)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.report import uncertainty_figures

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    sources = snakemake.params.sources
    uncertainty_figures(
        Path(snakemake.input.hr),
        dict(zip(sources, map(Path, snakemake.input.uncertainty), strict=True)),
        Path(snakemake.output.heatmaps).parent,
        dataset=w.dataset,
        scale=int(w.scale),
        degradation=w.degradation,
        heatmap=snakemake.params.heatmap,
        calibrations=dict(zip(sources, map(Path, snakemake.input.calibration), strict=True)),
        channel=snakemake.params.channel,
        crop=snakemake.params.crop,
        shift_scores={m: Path(f) for m, f in snakemake.params.shift_scores.items()},
        metrics=dict(zip(sources, map(Path, snakemake.input.metrics), strict=True)),
    )
