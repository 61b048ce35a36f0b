# Betas: ÷300, z-scored, repeats averaged, split into train and test (the
# shared images seen within the selected sessions), one matrix per stream.


rule betas:
    input:
        sessions=lambda wc: beta_sessions(wc.subject),
        expdesign=nsd(layout.expdesign()),
        structural=rules.masks.output.structural,
        semantic=rules.masks.output.semantic,
    output:
        "results/{subject}/betas.nc",
    log:
        "logs/betas/{subject}.log",
    benchmark:
        "benchmarks/betas/{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        zscore=config["betas"]["zscore"],
        average_repeats=config["betas"]["average_repeats"],
        trials_per_session=trials_per_session(),
    script:
        "../scripts/betas.py"
