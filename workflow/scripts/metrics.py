"""Per-image PSNR/SSIM of one method on one dataset/degradation/scale."""

from pathlib import Path

from sruq.stages.evaluate import metrics
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    metrics(
        Path(snakemake.input.sr), Path(snakemake.input.hr), int(w.scale),
        Path(snakemake.output[0]), dataset=w.dataset, degradation=w.degradation,
        method=snakemake.params.method, trained_on=snakemake.params.trained_on,
        channel=snakemake.params.channel, crop=snakemake.params.crop,
    )
