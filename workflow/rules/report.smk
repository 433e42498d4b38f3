rule figures:
    input:
        per_image="results/tables/per_image.csv",
        hr="results/data/{dataset}/hr",
        sr=lambda w: expand(
            f"results/sr/{w.dataset}/{w.degradation}/x{w.scale}/{{method}}", method=METHODS
        ),
        uncertainty=lambda w: expand(
            f"results/uncertainty/{w.dataset}/{w.degradation}/x{w.scale}/{{method}}",
            method=UNCERTAIN_METHODS,
        ),
    output:
        metrics=report(
            "results/figures/{dataset}_x{scale}_{degradation}/metrics.png",
            category="results",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/metric_spread.rst",
        ),
        comparison=report(
            "results/figures/{dataset}_x{scale}_{degradation}/comparison.png",
            category="results",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/visual_comparison.rst",
        ),
        uncertainty=[
            report(
                f"results/figures/{{dataset}}_x{{scale}}_{{degradation}}/{name}.png",
                category="uncertainty",
                subcategory="{dataset} x{scale} {degradation}",
                caption=f"../report/{name}.rst",
            )
            for name in (
                ["heatmaps", "sparsification", "reliability"] if UNCERTAIN_METHODS else []
            )
        ],
    log:
        "results/logs/figures/{dataset}_x{scale}_{degradation}.log",
    params:
        methods=METHODS,
        mc_models=UNCERTAIN_METHODS,
        mc=config["mc"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figures.py"


rule training_figure:
    input:
        [
            f"{model_dir(m, deg, s)}/log.csv"
            for m in MODELS_CFG
            for deg in config["degradations"]
            for s in config["scales"]
        ],
    output:
        report(
            "results/figures/training_curves.png",
            category="training",
            caption="../report/training.rst",
        ),
    log:
        "results/logs/figures/training_curves.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/training_figure.py"
