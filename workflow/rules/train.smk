rule patches:
    input:
        "results/data/{dataset}/hr",
    output:
        directory("results/patches/{dataset}/{degradation}/x{scale}/{model}"),
    log:
        "results/logs/patches/{dataset}/{degradation}/x{scale}/{model}.log",
    params:
        spec=lambda w: MODELS_CFG[w.model],
        preset=lambda w: ALL_PRESETS[w.degradation],
        seed=config["seed"],
    priority: 50  # trainings are the long jobs: start them first
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/patches.py"


rule train:
    input:
        patches="results/patches/{dataset}/{degradation}/x{scale}/{model}",
        valid_hr=lambda w: expand("results/data/{valid}/hr", valid=VALID_SETS),
        valid_lr=lambda w: expand(
            f"results/data/{{valid}}/{w.degradation}/x{w.scale}/lr", valid=VALID_SETS
        ),
    output:
        weights="results/models/{dataset}/{degradation}/x{scale}/{model}/weights.pt",
        log_csv="results/models/{dataset}/{degradation}/x{scale}/{model}/log.csv",
        curve=report(
            "results/models/{dataset}/{degradation}/x{scale}/{model}/curve.png",
            category="training",
            caption="../report/training.rst",
        ),
        summary="results/models/{dataset}/{degradation}/x{scale}/{model}/summary.json",
    log:
        "results/logs/train/{dataset}/{degradation}/x{scale}/{model}.log",
    params:
        spec=lambda w: MODELS_CFG[w.model],
        seed=config["seed"],
        device=config["device"],
    threads: 1
    priority: 50
    resources:
        gpu=1,
        runtime=240,
        mem_mb=8000,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"


rule sparse_dictionary:
    input:
        "results/data/{dataset}/hr",
    output:
        "results/models/{dataset}/x{scale}/sparse-coding.npz",
    log:
        "results/logs/sparse_dictionary/{dataset}/x{scale}.log",
    params:
        options=config["classical"]["sparse_coding"],
        seed=config["seed"],
    threads: 1
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sparse_dictionary.py"
