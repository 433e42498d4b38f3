rule upscale:
    input:
        unpack(method_inputs),
        lr="results/data/{dataset}/{degradation}/x{scale}/lr",
    output:
        directory("results/sr/{dataset}/{degradation}/x{scale}/{method}"),
    log:
        "results/logs/upscale/{dataset}/{degradation}/x{scale}/{method}.log",
    wildcard_constraints:
        method="|".join(re.escape(m) for m in SIMPLE_METHODS) or "^$",
    params:
        preset=lambda w: ALL_PRESETS[w.degradation],
        classical=config["classical"],
        device=config["device"],
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/upscale.py"


rule self_ensemble:
    input:
        unpack(method_inputs),
        unpack(heatmap_calibration),
        lr="results/data/{dataset}/{degradation}/x{scale}/lr",
    output:
        sr=directory("results/sr/{dataset}/{degradation}/x{scale}/{method}"),
        uncertainty=directory("results/uncertainty/{dataset}/{degradation}/x{scale}/{method}"),
    log:
        "results/logs/self_ensemble/{dataset}/{degradation}/x{scale}/{method}.log",
    wildcard_constraints:
        method="|".join(re.escape(m) for m in X8_VARIANTS) or "^$",
    params:
        preset=lambda w: ALL_PRESETS[w.degradation],
        classical=config["classical"],
        device=config["device"],
        mc=config["mc"],
    resources:
        gpu=1,
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/upscale.py"


rule infer_model:
    input:
        unpack(heatmap_calibration),
        lr="results/data/{dataset}/{degradation}/x{scale}/lr",
        hr="results/data/{dataset}/hr",
        weights=weights_of,
    output:
        sr=directory("results/sr/{dataset}/{degradation}/x{scale}/{method}"),
        uncertainty=directory("results/uncertainty/{dataset}/{degradation}/x{scale}/{method}"),
    log:
        "results/logs/infer/{dataset}/{degradation}/x{scale}/{method}.log",
    wildcard_constraints:
        method="|".join(MC_MODELS) or "^$",
    params:
        mc=config["mc"],
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
        lr="results/data/{dataset}/{degradation}/x{scale}/lr",
        hr="results/data/{dataset}/hr",
        weights=ensemble_weights,
    output:
        sr=directory("results/sr/{dataset}/{degradation}/x{scale}/{method}"),
        uncertainty=directory("results/uncertainty/{dataset}/{degradation}/x{scale}/{method}"),
    log:
        "results/logs/deep_ensemble/{dataset}/{degradation}/x{scale}/{method}.log",
    wildcard_constraints:
        method="|".join(re.escape(m) for m in ENSEMBLES) or "^$",
    params:
        mc=config["mc"],
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
