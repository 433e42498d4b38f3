rule figures:
    input:
        per_image=PER_IMAGE_TABLE,
        hr=rules.prepare_hr.output[0],
        sr=lambda w: [fill(layout.SR, method=m, **w) for m in results_at(w.degradation, w.scale)],
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
        methods=lambda w: results_at(w.degradation, w.scale),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figures.py"


rule uncertainty_figures:
    input:
        hr=rules.prepare_hr.output[0],
        uncertainty=lambda w: [
            fill(layout.UNCERTAINTY, method=m, **w) for m in uncertain_results(w)
        ],
        calibration=lambda w: [
            calibration_for(w.degradation, w.scale, m) for m in uncertain_results(w)
        ],
        shift_scores=lambda w: list(dict.fromkeys(shift_score_files(w).values())),
        metrics=lambda w: [
            fill(layout.UNCERTAINTY_METRICS, method=m, **w) for m in uncertain_results(w)
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
        sources=uncertain_results,
        shift_scores=shift_score_files,
        heatmap=config["heatmap"],
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
            for deg in MODELS_CFG[m].get("train_degradations") or config["degradations"]
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


rule shift_figure:
    input:
        layout.SHIFT_TABLE,
    output:
        report(
            layout.SHIFT_FIGURE,
            category="uncertainty",
            subcategory="degradation shift",
            caption="../report/shift.rst",
        ),
    log:
        layout.LOGS["shift_figure"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/shift_figure.py"


# every dataset x scale x degradation: its HR, SR and uncertainty folders and the sources'
# sigma-scaling files, for the results viewer
VIEWER_BLOCKS = [
    {
        "dataset": dataset,
        "scale": scale,
        "degradation": degradation,
        "hr": fill(layout.HR, dataset=dataset),
        "sr": {
            m: fill(layout.SR, dataset=dataset, degradation=degradation, scale=scale, method=m)
            for m in results_at(degradation, scale)
        },
        "uncertainty": {
            m: fill(layout.UNCERTAINTY, dataset=dataset, degradation=degradation, scale=scale,
                    method=m)
            for m in results_at(degradation, scale, UNCERTAIN_METHODS)
        },
        "calibration": {
            m: calibration_for(degradation, scale, m)
            for m in results_at(degradation, scale, UNCERTAIN_METHODS)
        },
    }
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
]


rule viewer:
    input:
        tables=TABLES,
        per_image=PER_IMAGE_TABLE,
        hr=list(dict.fromkeys(b["hr"] for b in VIEWER_BLOCKS)),
        sr=[d for b in VIEWER_BLOCKS for d in b["sr"].values()],
        uncertainty=[d for b in VIEWER_BLOCKS for d in b["uncertainty"].values()],
        calibration=list(dict.fromkeys(f for b in VIEWER_BLOCKS for f in b["calibration"].values())),
    output:
        directory(layout.VIEWER),
    log:
        layout.LOGS["viewer"],
    params:
        blocks=VIEWER_BLOCKS,
        heatmap=config["heatmap"],
        channel=METRICS_CFG["channel"],
        reference=METRICS_CFG["bootstrap_reference"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/viewer.py"
