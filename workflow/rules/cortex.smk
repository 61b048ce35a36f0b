# Decoder weights on the cortex: each subject's per-voxel decoder weight
# magnitudes mapped to fsaverage with NSD's own transforms (cubic at three
# cortical depths, averaged, nearest neighbour to fsaverage), drawn on
# inflated views and flatmaps with NSD's fsaverage ROI outlines, and compared
# across subjects. The volume-slice figures of figures.smk stay beside them.
# Both worlds read the same keys: the generator writes them (synthetic), or
# download_nsd fetches them (nsd).


rule cortex_maps:
    input:
        unpack(cortex_transforms),
        decoders=expand(
            "results/{{subject}}/decoders/{stream}.safetensors", stream=STREAMS
        ),
        betas=rules.betas.output[0],
        volume=lambda wc: nsd(layout.mean_volume(wc.subject)),
    output:
        lh_mgh="results/{subject}/cortex/lh.decoder_weights.mgh",
        rh_mgh="results/{subject}/cortex/rh.decoder_weights.mgh",
        lh_gifti="results/{subject}/cortex/lh.decoder_weights.func.gii",
        rh_gifti="results/{subject}/cortex/rh.decoder_weights.func.gii",
        maps="results/{subject}/cortex/decoder_weights.tsv",
    log:
        "logs/cortex_maps/{subject}.log",
    benchmark:
        "benchmarks/cortex_maps/{subject}.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000, 2, of=["decoders"]),  # of betas.nc only the voxel indices are read
        runtime=minutes(10),
    params:
        streams=STREAMS,
    script:
        "../scripts/cortex_maps.py"


rule figure_cortex:
    input:
        **fsaverage_labels(),
        lh=rules.cortex_maps.output.lh_gifti,
        rh=rules.cortex_maps.output.rh_gifti,
    output:
        png=report(
            "results/figures/cortex_{subject}.png",
            caption="../report/cortex.rst",
            category="Interpretability",
            subcategory="{subject}",
        ),
        pdf="results/figures/cortex_{subject}.pdf",
    log:
        "logs/figures/cortex_{subject}.log",
    benchmark:
        "benchmarks/figures/cortex_{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        roi_groups=config["figures"]["roi_groups"],
        title_note=cortex_note(),
    script:
        "../scripts/figure_cortex.py"


rule figure_cortex_subjects:
    input:
        **fsaverage_labels(),
        lh=expand(
            "results/{subject}/cortex/lh.decoder_weights.func.gii", subject=SUBJECTS
        ),
        rh=expand(
            "results/{subject}/cortex/rh.decoder_weights.func.gii", subject=SUBJECTS
        ),
    output:
        png=report(
            "results/figures/cortex_subjects.png",
            caption="../report/cortex_subjects.rst",
            category="Interpretability",
        ),
        pdf="results/figures/cortex_subjects.pdf",
        lh_mgh="results/cortex/lh.decoder_weights_across_subjects.mgh",
        rh_mgh="results/cortex/rh.decoder_weights_across_subjects.mgh",
        lh_gifti="results/cortex/lh.decoder_weights_across_subjects.func.gii",
        rh_gifti="results/cortex/rh.decoder_weights_across_subjects.func.gii",
        maps="results/cortex/decoder_weights_across_subjects.tsv",
    log:
        "logs/figures/cortex_subjects.log",
    benchmark:
        "benchmarks/figures/cortex_subjects.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000, 2),
        runtime=minutes(10),
    params:
        subjects=SUBJECTS,
        roi_groups=config["figures"]["roi_groups"],
        title_note=cortex_note(),
    script:
        "../scripts/figure_cortex_subjects.py"
