"""Learn the coupled LR/HR dictionaries of sparse-coding SR (Yang et al.)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.train import learn_dictionary

with log_to(snakemake.log[0]):
    learn_dictionary(
        [Path(snakemake.input[0])],
        Path(snakemake.output[0]),
        int(snakemake.wildcards.scale),
        snakemake.params.options,
        snakemake.params.seed,
    )
