"""Per-image uncertainty quality (correlations, AUSE, UCE before/after sigma scaling, NLL)."""

import json
from pathlib import Path

from sruq.io import write_csv
from sruq.steps import uncertainty_table
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    calibration = json.loads(Path(snakemake.input.calibration).read_text())
    table = uncertainty_table(
        Path(snakemake.input.uncertainty), Path(snakemake.input.hr), int(w.scale),
        dataset=w.dataset, degradation=w.degradation, method=w.method,
        scale_factor=calibration["sigma_scale"],
    )
    write_csv(table, Path(snakemake.output[0]))
