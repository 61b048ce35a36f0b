# Data: the NSD files under config["nsd_root"], in the bucket's own key layout.
# source: synthetic -> one job generates a small NSD-format dataset;
# source: nsd       -> each needed key is fetched from the public bucket.

if config["source"] == "synthetic":

    rule generate_synthetic_nsd:
        output:
            **synthetic_outputs(),
        log:
            "logs/generate_synthetic_nsd.log",
        benchmark:
            "benchmarks/generate_synthetic_nsd.tsv"
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            synthetic=config["synthetic"],
            subjects=SUBJECTS,
            beta_version=config["betas"]["version"],
            root=lambda wc, output: output.expdesign[: -len(layout.expdesign())],
        script:
            "../scripts/generate_synthetic_nsd.py"

else:

    rule download_nsd:
        output:
            nsd("{key}"),
        log:
            "logs/download_nsd/{key}.log",
        wildcard_constraints:
            key=r"nsddata(?!_stimuli/stimuli/nsd/annotations/).+",
        retries: 2
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=240,
        params:
            url=lambda wc: f"{config['nsd_url'].rstrip('/')}/{wc.key}",
        script:
            "../scripts/download_nsd.py"

    rule download_coco_captions:
        output:
            caption_files(),
        log:
            "logs/download_coco_captions.log",
        retries: 2
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60,
        params:
            url="http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
        script:
            "../scripts/download_coco_captions.py"
