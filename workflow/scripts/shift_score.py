"""Fit a trained model's shift scores, score the test images its methods see, and place
the validation and test images of every degradation (their profiles)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.infer import shift_score

with log_to(snakemake.log[0]):
    p, w = snakemake.params, snakemake.wildcards
    shift_score(
        Path(snakemake.input.weights), Path(snakemake.input.train_lr),
        [Path(d) for d in snakemake.input.valid_lr], p.rows, p.profile_rows,
        Path(snakemake.output.fit), Path(snakemake.output.scores),
        Path(snakemake.output.profiles),
        scale=int(w.scale), trained_on=w.degradation, score=p.score, quantile=p.quantile,
        device=p.device, threads=snakemake.threads,
    )
