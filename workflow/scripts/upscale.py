"""Upscale LR images with an interpolation baseline, a classical method or a variant (a
+x8, +tta or +mcbn variant also writes its uncertainty folder)."""

from pathlib import Path

from sruq.stages.infer import upscale_method
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    inputs, outputs = snakemake.input, snakemake.output
    upscale_method(
        snakemake.params.method,
        int(snakemake.wildcards.scale),
        Path(inputs.lr),
        Path(outputs.get("sr", outputs[0])),
        preset=snakemake.params.preset,
        classical=snakemake.params.classical,
        weights=Path(inputs.weights) if "weights" in inputs.keys() else None,
        dictionary=Path(inputs.dictionary) if "dictionary" in inputs.keys() else None,
        device=snakemake.params.device,
        unc_dir=Path(outputs.uncertainty) if "uncertainty" in outputs.keys() else None,
        hr_dir=Path(inputs.hr) if "hr" in inputs.keys() else None,
        mc=snakemake.params.get("mc"),
        calibration=inputs.get("calibration"),
        seed=snakemake.params.get("seed", 0),
        patches=Path(inputs.patches) if "patches" in inputs.keys() else None,
        train_batch=snakemake.params.get("train_batch"),
    )
