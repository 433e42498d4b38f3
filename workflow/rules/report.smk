rule figures:
    input:
        per_image="results/tables/per_image.csv",
        hr="results/data/{dataset}/hr",
        sr=lambda w: expand(
            f"results/sr/{w.dataset}/{w.degradation}/x{w.scale}/{{method}}",
            method=methods_at(w.scale),
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
    log:
        "results/logs/figures/{dataset}_x{scale}_{degradation}.log",
    params:
        methods=lambda w: methods_at(w.scale),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figures.py"


rule uncertainty_figures:
    input:
        hr="results/data/{dataset}/hr",
        uncertainty=lambda w: expand(
            f"results/uncertainty/{w.dataset}/{w.degradation}/x{w.scale}/{{method}}",
            method=methods_at(w.scale, UNCERTAIN_METHODS),
        ),
        calibration=lambda w: [
            calibration_file(w.degradation, w.scale, m)
            for m in methods_at(w.scale, UNCERTAIN_METHODS)
        ],
    output:
        heatmaps=report(
            "results/figures/{dataset}_x{scale}_{degradation}/heatmaps.png",
            category="uncertainty",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/heatmaps.rst",
        ),
        sparsification=report(
            "results/figures/{dataset}_x{scale}_{degradation}/sparsification.png",
            category="uncertainty",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/sparsification.rst",
        ),
        reliability=report(
            "results/figures/{dataset}_x{scale}_{degradation}/reliability.png",
            category="uncertainty",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/reliability.rst",
        ),
    log:
        "results/logs/uncertainty_figures/{dataset}_x{scale}_{degradation}.log",
    params:
        sources=lambda w: methods_at(w.scale, UNCERTAIN_METHODS),
        mc=config["mc"],
        channel=METRICS_CFG["channel"],
        crop=METRICS_CFG["crop_border"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/uncertainty_figures.py"


rule training_figure:
    input:
        [
            f"{model_dir(m, deg, s)}/log.csv"
            for m in MODELS_CFG
            for deg in config["degradations"]
            for s in model_scales(m)
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
