# Evaluation: the field's eight metrics per test image, per subject and
# method, then one table with the published reference rows beside ours.


rule reference_features:
    input:
        betas=rules.betas.output[0],
        stimuli=lambda wc: subject_stimuli(wc.subject),
    output:
        "results/{subject}/evaluation/reference_features.h5",
    log:
        "logs/evaluate/{subject}_reference_features.log",
    benchmark:
        "benchmarks/evaluate/{subject}_reference_features.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=60,
        gpu=use_gpu(),
    params:
        evaluate=evaluate_settings(),
    script:
        "../scripts/evaluate.py"


rule evaluate:
    input:
        reconstructions="results/{subject}/{method}/reconstructions.h5",
        stimuli=lambda wc: subject_stimuli(wc.subject),
        reference=rules.reference_features.output[0],
    output:
        "results/{subject}/{method}/metrics.tsv",
    log:
        "logs/evaluate/{subject}_{method}.log",
    benchmark:
        "benchmarks/evaluate/{subject}_{method}.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=use_gpu(),
    params:
        evaluate=evaluate_settings(),
    script:
        "../scripts/evaluate.py"


rule metrics_table:
    input:
        expand(
            "results/{subject}/{method}/metrics.tsv", subject=SUBJECTS, method=METHODS
        ),
    output:
        tsv="results/tables/metrics.tsv",
        md="results/tables/metrics.md",
        tex="results/tables/metrics.tex",
    log:
        "logs/metrics_table.log",
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        notes=[f"Diffusion models: {title_note()}." if title_note() else ""],
    script:
        "../scripts/metrics_table.py"
