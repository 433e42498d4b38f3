# Five rules write the SR folder of a method, each for its kinds of methods
# (sruq.pipeline.methods.KINDS): which rule runs a method follows from its kind alone.  The four
# with uncertainty run the source of that name (sruq.uncertainty.sources.SOURCES: mc, x8,
# tta, mcbn, ensemble) through one door, sruq.stages.infer.run_source.


rule upscale:
    input:
        unpack(method_inputs),
        lr=rules.degrade.output.lr,
    output:
        directory(layout.SR),
    log:
        layout.LOGS["upscale"],
    wildcard_constraints:
        method=method_pattern("baseline", "network", "classical", "variant"),
    params:
        method=base_method,
        preset=lambda w: ALL_PRESETS[w.degradation],
        classical=config["classical"],
        device=config["device"],
    threads: 1
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/upscale.py"


rule self_ensemble:
    input:
        unpack(method_inputs),
        unpack(heatmap_calibration),
        lr=rules.degrade.output.lr,
    output:
        sr=directory(layout.SR),
        uncertainty=directory(layout.UNCERTAINTY),
    log:
        layout.LOGS["self_ensemble"],
    wildcard_constraints:
        method=method_pattern("x8"),
    params:
        method=base_method,
        preset=lambda w: ALL_PRESETS[w.degradation],
        classical=config["classical"],
        device=config["device"],
        mc=config["mc"],
        heatmap=config["heatmap"],
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/spread.py"


# +tta and +mcbn variants: mc.samples passes of the trained (or any, for +tta) base method,
# each with input noise or the BatchNorm statistics of a random batch of training patches
rule test_time_sampling:
    input:
        unpack(method_inputs),
        unpack(heatmap_calibration),
        lr=rules.degrade.output.lr,
    output:
        sr=directory(layout.SR),
        uncertainty=directory(layout.UNCERTAINTY),
    log:
        layout.LOGS["test_time_sampling"],
    wildcard_constraints:
        method=method_pattern("tta", "mcbn"),
    params:
        method=base_method,
        preset=lambda w: ALL_PRESETS[w.degradation],
        classical=config["classical"],
        device=config["device"],
        mc=config["mc"],
        heatmap=config["heatmap"],
        seed=config["seed"],
        train_batch=train_batch,
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/spread.py"


rule infer_model:
    input:
        unpack(heatmap_calibration),
        lr=rules.degrade.output.lr,
        hr=rules.prepare_hr.output[0],
        weights=weights_of,
    output:
        sr=directory(layout.SR),
        uncertainty=directory(layout.UNCERTAINTY),
    log:
        layout.LOGS["infer_model"],
    wildcard_constraints:
        method=method_pattern("mc"),
    params:
        mc=config["mc"],
        heatmap=config["heatmap"],
        seed=config["seed"],
        device=config["device"],
    threads: 1
    resources:
        gpu=1,
        runtime=120,
        mem_mb=8000,
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/infer.py"


rule deep_ensemble:
    input:
        unpack(heatmap_calibration),
        lr=rules.degrade.output.lr,
        hr=rules.prepare_hr.output[0],
        weights=ensemble_weights,
    output:
        sr=directory(layout.SR),
        uncertainty=directory(layout.UNCERTAINTY),
    log:
        layout.LOGS["deep_ensemble"],
    wildcard_constraints:
        method=method_pattern("ensemble"),
    params:
        heatmap=config["heatmap"],
        device=config["device"],
    threads: 1
    resources:
        gpu=1,
        runtime=120,
        mem_mb=8000,
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/deep_ensemble.py"


rule outside:
    input:
        images=outside_entries,
        hr=rules.prepare_hr.output[0],
    output:
        directory(layout.SR),
    log:
        layout.LOGS["outside"],
    wildcard_constraints:
        method=method_pattern("outside"),
    params:
        folder=outside_dir,
    localrule: True
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/outside.py"


# the shift scores of a trained model: fitted once (densities on its training LR tiles,
# thresholds on the validation LR tiles, at its training degradation), then computed for
# every test image its methods are tested on
rule shift_score:
    input:
        weights=layout.WEIGHTS,
        train_lr=fill(layout.LR, dataset="{dataset}"),
        valid_lr=lambda w: [fill(layout.LR, dataset=v, degradation=w.degradation,
                                 scale=w.scale) for v in VALID_SETS],
        test_lr=lambda w: list(dict.fromkeys(row["lr"] for row in shift_rows(w))),
        profile_lr=lambda w: list(dict.fromkeys(row["lr"] for row in profile_rows(w))),
    output:
        fit=layout.SHIFT_FIT,
        scores=layout.SHIFT_SCORES,
        profiles=layout.SHIFT_PROFILES,
    log:
        layout.LOGS["shift_score"],
    params:
        rows=shift_rows,
        profile_rows=profile_rows,
        score=SHIFT_CFG["score"],
        quantile=SHIFT_CFG["quantile"],
        device=config["device"],
    threads: 1
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/shift_score.py"
