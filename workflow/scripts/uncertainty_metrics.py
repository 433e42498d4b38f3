"""Per-image uncertainty quality (correlations, AUSE, UCE before/after sigma scaling, NLL,
the BayesCap protocol's UCE and C.Coeff, coverage and width of the conformal intervals,
widened on the images the shift score flags)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.evaluate import uncertainty

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    uncertainty(
        Path(snakemake.input.uncertainty), int(w.scale), Path(snakemake.output[0]),
        calibration=Path(snakemake.input.calibration), dataset=w.dataset,
        degradation=w.degradation, method=snakemake.params.method,
        trained_on=snakemake.params.trained_on, channel=snakemake.params.channel,
        crop=snakemake.params.crop, profiles=snakemake.input.get("profiles"),
    )
