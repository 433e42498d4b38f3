rule metrics:
    input:
        sr="results/sr/{dataset}/{degradation}/x{scale}/{method}",
        hr="results/data/{dataset}/hr",
    output:
        "results/metrics/{dataset}/{degradation}/x{scale}/{method}.csv",
    log:
        "results/logs/metrics/{dataset}/{degradation}/x{scale}/{method}.log",
    params:
        channel=config["metrics"]["channel"],
        crop=config["metrics"]["crop_border"],
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/metrics.py"


rule lpips:
    input:
        sr="results/sr/{dataset}/{degradation}/x{scale}/{method}",
        hr="results/data/{dataset}/hr",
    output:
        "results/lpips/{dataset}/{degradation}/x{scale}/{method}.csv",
    log:
        "results/logs/lpips/{dataset}/{degradation}/x{scale}/{method}.log",
    params:
        net=LPIPS_NET,
    resources:
        gpu=1,
    conda:
        "../../envs/lpips.yaml"
    script:
        "../scripts/lpips.py"


rule calibrate:
    input:
        calibration_inputs,
    output:
        "results/calibration/{degradation}/x{scale}/{method}.json",
    log:
        "results/logs/calibrate/{degradation}/x{scale}/{method}.log",
    params:
        channel=METRICS_CFG["channel"],
        crop=METRICS_CFG["crop_border"],
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/calibrate.py"


rule uncertainty_metrics:
    input:
        uncertainty="results/uncertainty/{dataset}/{degradation}/x{scale}/{method}",
        calibration="results/calibration/{degradation}/x{scale}/{method}.json",
    output:
        "results/uncertainty/{dataset}/{degradation}/x{scale}/{method}.csv",
    log:
        "results/logs/uncertainty_metrics/{dataset}/{degradation}/x{scale}/{method}.log",
    params:
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
        "results/logs/tables.log",
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/tables.py"
