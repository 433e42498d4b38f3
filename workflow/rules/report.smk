rule figures:
    input:
        per_image=PER_IMAGE_TABLE,
        hr=rules.prepare_hr.output[0],
        sr=lambda w: [fill(layout.SR, method=m, **w) for m in methods_at(w.scale)],
    output:
        metrics=report(
            fill(layout.FIGURE, figure="metrics"),
            category="results",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/metric_spread.rst",
        ),
        comparison=report(
            fill(layout.FIGURE, figure="comparison"),
            category="results",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/visual_comparison.rst",
        ),
    log:
        layout.LOGS["figures"],
    params:
        methods=lambda w: methods_at(w.scale),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figures.py"


rule uncertainty_figures:
    input:
        hr=rules.prepare_hr.output[0],
        uncertainty=lambda w: [
            fill(layout.UNCERTAINTY, method=m, **w) for m in methods_at(w.scale, UNCERTAIN_METHODS)
        ],
        calibration=lambda w: [
            calibration_file(w.degradation, w.scale, m)
            for m in methods_at(w.scale, UNCERTAIN_METHODS)
        ],
    output:
        heatmaps=report(
            fill(layout.FIGURE, figure="heatmaps"),
            category="uncertainty",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/heatmaps.rst",
        ),
        sparsification=report(
            fill(layout.FIGURE, figure="sparsification"),
            category="uncertainty",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/sparsification.rst",
        ),
        reliability=report(
            fill(layout.FIGURE, figure="reliability"),
            category="uncertainty",
            subcategory="{dataset} x{scale} {degradation}",
            caption="../report/reliability.rst",
        ),
    log:
        layout.LOGS["uncertainty_figures"],
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
            model_file(layout.TRAINING_LOG, m, deg, s)
            for m in MODELS_CFG
            for deg in config["degradations"]
            for s in model_scales(m)
        ],
    output:
        report(
            layout.TRAINING_CURVES,
            category="training",
            caption="../report/training.rst",
        ),
    log:
        layout.LOGS["training_figure"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/training_figure.py"
