rule download:
    output:
        layout.SOURCE,
    log:
        layout.LOGS["download"],
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
        directory(layout.HR),
    log:
        layout.LOGS["prepare_hr"],
    params:
        spec=lambda w: DATASETS[w.dataset],
    localrule: True
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_hr.py"


rule degrade:
    input:
        rules.prepare_hr.output[0],
    output:
        lr=directory(layout.LR),
        provenance=report(
            layout.PROVENANCE,
            category="data",
            caption="../report/data.rst",
        ),
    log:
        layout.LOGS["degrade"],
    params:
        preset=lambda w: ALL_PRESETS[w.degradation],
        seed=config["seed"],
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/degrade.py"
