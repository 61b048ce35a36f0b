# Figures: reconstruction grids, metric bars, HAVIR ablations, each subject's
# masks, decoder weight maps and the pathway summary; all appear in
# `snakemake --report` with a caption.


rule figure_reconstructions:
    input:
        reconstructions=expand(
            "results/{{subject}}/{method}/reconstructions.h5", method=METHODS
        ),
        stimuli=lambda wc: subject_stimuli(wc.subject),
    output:
        png=report(
            "results/figures/reconstructions_{subject}.png",
            caption="../report/reconstructions.rst",
            category="Reconstructions",
            subcategory="{subject}",
        ),
        pdf="results/figures/reconstructions_{subject}.pdf",
    log:
        "logs/figures/reconstructions_{subject}.log",
    benchmark:
        "benchmarks/figures/reconstructions_{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        methods=METHODS,
        n_images=config["figures"]["n_images"],
        title_note=title_note(),
    script:
        "../scripts/figure_reconstructions.py"


rule figure_metrics:
    input:
        rules.metrics_table.output.tsv,
    output:
        png=report(
            "results/figures/metrics.png",
            caption="../report/metrics.rst",
            category="Metrics",
        ),
        pdf="results/figures/metrics.pdf",
    log:
        "logs/figures/metrics.log",
    benchmark:
        "benchmarks/figures/metrics.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        title_note=title_note(),
    script:
        "../scripts/figure_metrics.py"


rule figure_masks:
    input:
        structural=rules.masks.output.structural,
        semantic=rules.masks.output.semantic,
        background=lambda wc: nsd(layout.mean_volume(wc.subject)),
    output:
        png=report(
            "results/figures/masks_{subject}.png",
            caption="../report/masks.rst",
            category="Masks",
            subcategory="{subject}",
        ),
        pdf="results/figures/masks_{subject}.pdf",
    log:
        "logs/figures/masks_{subject}.log",
    benchmark:
        "benchmarks/figures/masks_{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        source=config["source"],
    script:
        "../scripts/figure_masks.py"


# Interpretability: where each subject's decoders read from.


rule voxel_weights:
    input:
        unpack(interpretability_rois),
        decoders=expand(
            "results/{{subject}}/decoders/{stream}.safetensors", stream=STREAMS
        ),
        betas=rules.betas.output[0],
    output:
        weights="results/{subject}/interpretability/voxel_weights.tsv",
        shares="results/{subject}/interpretability/roi_weight_shares.tsv",
        overlap="results/{subject}/interpretability/stream_overlap.tsv",
    log:
        "logs/voxel_weights/{subject}.log",
    benchmark:
        "benchmarks/voxel_weights/{subject}.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000, 1, of=["decoders"]),  # of betas.nc only the voxel indices are read
        runtime=minutes(10),
    params:
        streams=STREAMS,
        roi_groups=config["figures"]["roi_groups"],
        masks=config["masks"],
    script:
        "../scripts/voxel_weights.py"


rule figure_weights:
    input:
        weights=rules.voxel_weights.output.weights,
        background=lambda wc: nsd(layout.mean_volume(wc.subject)),
    output:
        png=report(
            "results/figures/weights_{subject}.png",
            caption="../report/weights.rst",
            category="Interpretability",
            subcategory="{subject}",
        ),
        pdf="results/figures/weights_{subject}.pdf",
    log:
        "logs/figures/weights_{subject}.log",
    benchmark:
        "benchmarks/figures/weights_{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        title_note=subject_note(),
    script:
        "../scripts/figure_weights.py"


rule figure_pathways:
    input:
        shares=expand(
            "results/{subject}/interpretability/roi_weight_shares.tsv",
            subject=SUBJECTS,
        ),
        overlap=expand(
            "results/{subject}/interpretability/stream_overlap.tsv", subject=SUBJECTS
        ),
    output:
        png=report(
            "results/figures/pathways.png",
            caption="../report/pathways.rst",
            category="Interpretability",
        ),
        pdf="results/figures/pathways.pdf",
        shares="results/tables/roi_weight_shares.tsv",
        overlap="results/tables/stream_overlap.tsv",
    log:
        "logs/figures/pathways.log",
    benchmark:
        "benchmarks/figures/pathways.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        overlap_rule=config["masks"]["overlap"],
        title_note=subject_note(),
    script:
        "../scripts/figure_pathways.py"


rule figure_ablations:
    input:
        rules.metrics_table.output.tsv,
    output:
        png=report(
            "results/figures/ablations.png",
            caption="../report/ablations.rst",
            category="Metrics",
        ),
        pdf="results/figures/ablations.pdf",
    log:
        "logs/figures/ablations.log",
    benchmark:
        "benchmarks/figures/ablations.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        ablations=ablations(),
        title_note=title_note(),
    script:
        "../scripts/figure_ablations.py"
