"""Upscale LR images with an interpolation baseline."""

from pathlib import Path

from sruq.inference import upscale_folder
from sruq.models import build_model
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    model = build_model(snakemake.wildcards.method, int(snakemake.wildcards.scale))
    upscale_folder(model, Path(snakemake.input[0]), Path(snakemake.output[0]))
