"""Per-image PSNR/SSIM of one method on one dataset/degradation/scale."""

from pathlib import Path

from sruq.evaluate import evaluate_folder
from sruq.io import write_csv
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    extra = {}
    if snakemake.params.lpips:
        from sruq.lpips_metric import LPIPSMetric

        extra["lpips"] = LPIPSMetric(snakemake.params.lpips)
    rows = evaluate_folder(
        Path(snakemake.input.sr), Path(snakemake.input.hr), int(w.scale),
        dataset=w.dataset, degradation=w.degradation, method=w.method,
        channel=snakemake.params.channel, crop=snakemake.params.crop, extra=extra,
    )
    write_csv(rows, Path(snakemake.output[0]))
