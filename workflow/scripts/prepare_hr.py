"""Write a dataset's HR images, normalised, as PNGs."""

import json
from pathlib import Path

from sruq.datasets import prepare_hr
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    source = snakemake.input.get("source")
    folder = json.loads(Path(source).read_text())["folder"] if source else None
    prepare_hr(
        snakemake.wildcards.dataset,
        snakemake.params.spec,
        Path(snakemake.output[0]),
        folder=Path(folder) if folder else None,
    )
