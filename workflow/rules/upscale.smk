rule upscale_baseline:
    input:
        "results/data/{dataset}/{degradation}/x{scale}/lr",
    output:
        directory("results/sr/{dataset}/{degradation}/x{scale}/{method}"),
    log:
        "results/logs/upscale/{dataset}/{degradation}/x{scale}/{method}.log",
    wildcard_constraints:
        method="|".join(config["baselines"]) or "^$",
    conda:
        "../../envs/infer.yaml"
    script:
        "../scripts/upscale_baseline.py"
