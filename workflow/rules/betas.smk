# Betas: ÷300, z-scored, split into train (averaged or single trials) and test
# (the shared images seen within the selected sessions, repeats averaged), one
# matrix per stream.


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
        mem_mb=memory(2000, 0.3),
        runtime=minutes(10, 3),
    params:
        betas=config["betas"],
        trials_per_session=trials_per_session(),
    script:
        "../scripts/betas.py"
