rule metrics:
    input:
        sr=layout.SR,
        hr=rules.prepare_hr.output[0],
    output:
        layout.METRICS,
    log:
        layout.LOGS["metrics"],
    params:
        method=base_method,
        trained_on=trained_on,
        channel=config["metrics"]["channel"],
        crop=config["metrics"]["crop_border"],
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/metrics.py"


rule lpips:
    input:
        sr=layout.SR,
        hr=rules.prepare_hr.output[0],
    output:
        layout.LPIPS,
    log:
        layout.LOGS["lpips"],
    params:
        method=base_method,
        trained_on=trained_on,
        net=LPIPS_NET,
    resources:
        gpu=1,
    conda:
        "../../envs/lpips.yaml"
    script:
        "../scripts/lpips.py"


rule calibrate:
    input:
        unpack(shift_profiles_of),
        folders=calibration_inputs,
    output:
        layout.CALIBRATION,
    log:
        layout.LOGS["calibrate"],
    params:
        folders=calibration_folders,
        channel=METRICS_CFG["channel"],
        crop=METRICS_CFG["crop_border"],
        coverage=METRICS_CFG["coverage"],
        quantile=SHIFT_CFG["quantile"],
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/calibrate.py"


rule uncertainty_metrics:
    input:
        unpack(shift_profiles_of),
        uncertainty=layout.UNCERTAINTY,
        calibration=calibration_of,
    output:
        layout.UNCERTAINTY_METRICS,
    log:
        layout.LOGS["uncertainty_metrics"],
    params:
        method=base_method,
        trained_on=trained_on,
        channel=METRICS_CFG["channel"],
        crop=METRICS_CFG["crop_border"],
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/uncertainty_metrics.py"


rule tables:
    input:
        METRIC_FILES,
        LPIPS_FILES,
        UNCERTAINTY_FILES,
        SHIFT_SCORE_FILES,
    output:
        [
            (
                report(
                    path,
                    category="results",
                    subcategory="tables",
                    caption=(
                        "../report/comparison_table.rst"
                        if Path(path).stem.count("_x")
                        else "../report/summary_table.rst"
                    ),
                )
                if path.endswith(".csv")
                else path
            )
            for path in TABLES
        ],
    log:
        layout.LOGS["tables"],
    params:
        notes=ROLE_NOTES,
        reference=METRICS_CFG["bootstrap_reference"],
        samples=METRICS_CFG["bootstrap_samples"],
        seed=config["seed"],
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/tables.py"
