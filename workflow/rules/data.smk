rule download:
    output:
        "results/data/{dataset}/source.json",
    log:
        "results/logs/download/{dataset}.log",
    params:
        spec=lambda w: DATASETS[w.dataset],
        mirror=config["data_mirror"],
        resources=config["resources_dir"],
    localrule: True
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download.py"


rule prepare_hr:
    input:
        unpack(source_record),
    output:
        directory("results/data/{dataset}/hr"),
    log:
        "results/logs/prepare_hr/{dataset}.log",
    params:
        spec=lambda w: DATASETS[w.dataset],
    localrule: True
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_hr.py"


rule degrade:
    input:
        "results/data/{dataset}/hr",
    output:
        lr=directory("results/data/{dataset}/{degradation}/x{scale}/lr"),
        provenance=report(
            "results/data/{dataset}/{degradation}/x{scale}/provenance.json",
            category="data",
            caption="../report/data.rst",
        ),
    log:
        "results/logs/degrade/{dataset}/{degradation}/x{scale}.log",
    params:
        preset=lambda w: ALL_PRESETS[w.degradation],
        seed=config["seed"],
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/degrade.py"
