# sruq: single-image super-resolution with uncertainty you can see.
# Run the default workflow with `snakemake --cores 2`; see README.md.

# The embedded default; a --configfile given on the command line replaces it
# (it is not merged, so a user's dataset list is exactly what they wrote).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


onstart:
    # before any job (not in a dry run): requested optional extras must be usable
    if LPIPS_NET:
        from sruq.evaluation.lpips_metric import check_lpips

        check_lpips(LPIPS_NET)
    from sruq.pipeline.config import check_extras

    check_extras(MODELS_CFG)  # torchvision for perceptual losses



rule all:
    default_target: True
    input:
        TABLES,
        FIGURES,
        rules.viewer.output,
