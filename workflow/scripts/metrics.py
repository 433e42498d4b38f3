"""Per-image PSNR/SSIM of one method on one dataset/degradation/scale."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.evaluate import metrics

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    metrics(
        Path(snakemake.input.sr), Path(snakemake.input.hr), int(w.scale),
        Path(snakemake.output[0]), dataset=w.dataset, degradation=w.degradation,
        method=snakemake.params.method, trained_on=snakemake.params.trained_on,
        channel=snakemake.params.channel, crop=snakemake.params.crop,
    )
