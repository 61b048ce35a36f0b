# Individualised masks: each subject's structural and semantic voxel sets from
# that subject's own ROI files and label tables, intersected with nsdgeneral.


rule masks:
    input:
        unpack(roi_inputs),
    output:
        structural="results/{subject}/masks/structural.nii.gz",
        semantic="results/{subject}/masks/semantic.nii.gz",
        counts="results/{subject}/masks/voxel_counts.tsv",
    log:
        "logs/masks/{subject}.log",
    benchmark:
        "benchmarks/masks/{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000),
        runtime=minutes(10),
    params:
        masks=config["masks"],
    script:
        "../scripts/masks.py"
