rule patches:
    input:
        rules.prepare_hr.output[0],
    output:
        directory(layout.PATCHES),
    log:
        layout.LOGS["patches"],
    params:  # only what the step reads: another key of the model entry re-cuts nothing
        patches=lambda w: MODELS_CFG[w.model].get("patches"),
        channels=lambda w: patch_channels(w.model),
        preset=lambda w: ALL_PRESETS[w.degradation],
        seed=config["seed"],
    priority: 50  # trainings are the long jobs: start them first
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/patches.py"


rule train:
    input:
        patches=rules.patches.output[0],
        valid_hr=expand(layout.HR, dataset=VALID_SETS),
        valid_lr=lambda w: [
            fill(layout.LR, dataset=valid, degradation=w.degradation, scale=w.scale)
            for valid in VALID_SETS
        ],
    output:
        weights=layout.WEIGHTS,
        log_csv=layout.TRAINING_LOG,
        curve=report(
            layout.CURVE,
            category="training",
            caption="../report/training.rst",
        ),
        summary=layout.TRAINING_SUMMARY,
    log:
        layout.LOGS["train"],
    params:  # only what the step reads: another key of the model entry retrains nothing
        spec=lambda w: training_spec(w.model),
        seed=config["seed"],
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
        rules.prepare_hr.output[0],
    output:
        layout.DICTIONARY,
    log:
        layout.LOGS["sparse_dictionary"],
    params:
        options=config["classical"]["sparse_coding"],
        seed=config["seed"],
    threads: 1
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sparse_dictionary.py"
