"""Collect per-image metrics into the tidy table and the comparison tables (with the
paired-bootstrap PSNR differences to the reference method)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.evaluate import tables

with log_to(snakemake.log[0]):
    p = snakemake.params
    tables([Path(f) for f in snakemake.input], Path(snakemake.output[0]).parent, p.notes,
           reference=p.reference, samples=p.samples, seed=p.seed)
