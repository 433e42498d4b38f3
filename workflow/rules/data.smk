rule prepare_hr:
    output:
        directory("results/data/{dataset}/hr"),
    log:
        "results/logs/prepare_hr/{dataset}.log",
    params:
        spec=lambda w: DATASETS[w.dataset],
        mirror=config["data_mirror"],
        resources=config["resources_dir"],
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
        provenance="results/data/{dataset}/{degradation}/x{scale}/provenance.json",
    log:
        "results/logs/degrade/{dataset}/{degradation}/x{scale}.log",
    params:
        preset=lambda w: ALL_PRESETS[w.degradation],
        seed=config["seed"],
    conda:
        "../../envs/degrade.yaml"
    script:
        "../scripts/degrade.py"
