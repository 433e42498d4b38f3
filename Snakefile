# sruq: single-image super-resolution with uncertainty you can see.
# Run the default workflow with `snakemake --cores 2`; see README.md.

configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/upscale.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        TABLES,
