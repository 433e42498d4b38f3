"""Super-resolve with a deep ensemble: the members' mean, and their spread as uncertainty."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.infer import deep_ensemble

with log_to(snakemake.log[0]):
    deep_ensemble(
        [Path(p) for p in snakemake.input.weights],
        Path(snakemake.input.lr),
        Path(snakemake.output.sr),
        Path(snakemake.output.uncertainty),
        hr_dir=Path(snakemake.input.hr),
        device=snakemake.params.device,
        threads=snakemake.threads,
        calibration=snakemake.input.get("calibration"),
        heatmap=snakemake.params.heatmap,
    )
