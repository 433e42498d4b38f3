"""Upscale LR images once with an interpolation baseline, a network without dropout, a
classical method or an +edge variant."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.infer import Method, upscale_method

with log_to(snakemake.log[0]):
    inputs = snakemake.input
    upscale_method(
        Method(
            snakemake.params.method,
            int(snakemake.wildcards.scale),
            preset=snakemake.params.preset,
            classical=snakemake.params.classical,
            weights=Path(inputs.weights) if "weights" in inputs.keys() else None,
            dictionary=Path(inputs.dictionary) if "dictionary" in inputs.keys() else None,
        ),
        Path(inputs.lr),
        Path(snakemake.output[0]),
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
