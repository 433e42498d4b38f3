"""Super-resolve with a +x8, +tta or +mcbn variant: its source's mean, and its spread as
uncertainty."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.infer import Method, spread_method

with log_to(snakemake.log[0]):
    inputs, params = snakemake.input, snakemake.params
    spread_method(
        Method(
            params.method,
            int(snakemake.wildcards.scale),
            preset=params.preset,
            classical=params.classical,
            weights=Path(inputs.weights) if "weights" in inputs.keys() else None,
            dictionary=Path(inputs.dictionary) if "dictionary" in inputs.keys() else None,
        ),
        Path(inputs.lr),
        Path(snakemake.output.sr),
        Path(snakemake.output.uncertainty),
        mc=params.mc,
        heatmap=params.heatmap,
        seed=params.get("seed", 0),
        hr_dir=Path(inputs.hr),
        calibration=inputs.get("calibration"),
        patches=Path(inputs.patches) if "patches" in inputs.keys() else None,
        train_batch=params.get("train_batch"),
        device=params.device,
        threads=snakemake.threads,
    )
