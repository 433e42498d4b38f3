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
        "../../envs/metrics.yaml"
    script:
        "../scripts/metrics.py"


rule tables:
    input:
        METRIC_FILES,
    output:
        per_image=TABLES[0],
        summary=TABLES[1],
        markdown=TABLES[2],
    log:
        "results/logs/tables.log",
    localrule: True
    conda:
        "../../envs/metrics.yaml"
    script:
        "../scripts/tables.py"
