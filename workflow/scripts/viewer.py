"""The results viewer of a run: a static site of every method's images side by side."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.report import results_viewer

with log_to(snakemake.log[0]):
    results_viewer(
        snakemake.params.blocks,
        Path(snakemake.input.per_image),
        Path(snakemake.input.per_image).parent,
        Path(snakemake.output[0]),
        heatmap=snakemake.params.heatmap,
        channel=snakemake.params.channel,
        reference=snakemake.params.reference,
    )
