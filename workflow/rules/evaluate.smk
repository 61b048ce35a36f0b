# Evaluation: the field's eight metrics per test image, per subject and
# method, then one table with the published reference rows beside ours.


rule evaluate:
    """All methods of one subject in one job: the metric networks load once and
    the stimuli's features are computed once (on a cluster, one GPU job per
    subject instead of one per method). A changed reconstruction re-evaluates
    its subject's methods, minutes on a GPU at NSD scale."""
    input:
        unpack(evaluate_inputs),
        clip=model_inputs(config["evaluate"]["clip_id"]),
    output:
        **{m: f"results/{{subject}}/{m}/metrics.tsv" for m in METHODS},
    log:
        "logs/evaluate/{subject}.log",
    benchmark:
        "benchmarks/evaluate/{subject}.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(3000, 3),
        runtime=minutes(20, 10),
        gpu=use_gpu(),
        device=DEVICE,
        batch_size=config["evaluate"]["batch_size"],
    params:
        metrics=evaluate_settings(),
    script:
        "../scripts/evaluate.py"


rule metrics_table:
    input:
        metrics=expand(
            "results/{subject}/{method}/metrics.tsv", subject=SUBJECTS, method=METHODS
        ),
        published=PUBLISHED_RESULTS,
    output:
        tsv="results/tables/metrics.tsv",
        md="results/tables/metrics.md",
        tex="results/tables/metrics.tex",
    log:
        "logs/metrics_table.log",
    benchmark:
        "benchmarks/metrics_table.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(1000),
        runtime=minutes(10),
    params:
        notes=[f"Diffusion models: {title_note()}." if title_note() else ""],
        dataset=published.dataset_of(config["source"]),
        ssim=config["evaluate"]["ssim"],
    script:
        "../scripts/metrics_table.py"
