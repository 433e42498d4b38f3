"""Per-image LPIPS of one method on one dataset/degradation/scale (its own env)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.lpips import lpips_table

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    lpips_table(
        Path(snakemake.input.sr), Path(snakemake.input.hr), int(w.scale),
        Path(snakemake.output[0]), net=snakemake.params.net, dataset=w.dataset,
        degradation=w.degradation, method=snakemake.params.method,
        trained_on=snakemake.params.trained_on,
    )
