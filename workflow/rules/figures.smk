# Figures: reconstruction grids, metric bars, and each subject's masks; all
# appear in `snakemake --report` with a caption.


rule figure_reconstructions:
    input:
        reconstructions=expand(
            "results/{{subject}}/{method}/reconstructions.h5", method=METHODS
        ),
        stimuli=nsd(layout.stimuli()),
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
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        methods=METHODS,
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
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
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
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        source=config["source"],
    script:
        "../scripts/figure_masks.py"
