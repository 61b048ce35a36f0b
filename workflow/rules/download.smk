# Data: the NSD files under config["nsd_root"], in the bucket's own key layout.
# source: synthetic -> one job generates a small NSD-format dataset;
# source: nsd       -> each needed key is fetched from the public bucket.
# Then, in both worlds, each subject gets its captions (and, with
# stimuli: subset, its stimulus images) cached under results/{subject}/.
#
# One job per key, not one per subject: Snakemake deletes a job's outputs
# before it reruns it, so a per-subject job would throw away a subject's
# ~40 GB of betas whenever its file list grows (e.g. sessions 37 -> 40).
# Per key, only missing keys run; within a job a large file comes over
# download.parallel connections. The URL and connection settings are resources,
# not params: they change how the bytes arrive, never which bytes, and a params
# change would refetch everything. Every rule that touches the network is a
# localrule: on a cluster it runs on the submit host, as compute nodes often
# have no outbound network.

# The bucket, connections and retries of every network rule (execution settings).
NETWORK = {
    "url": config["nsd_url"],
    "parallel": config["download"]["parallel"],
    "retries": config["download"]["retries"],
}

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
            mem_mb=memory(4000),
            runtime=minutes(30),
        params:
            synthetic=config["synthetic"],
            subjects=SUBJECTS,
            beta_version=config["betas"]["version"],
            root=lambda wc, output: output.expdesign[: -len(layout.expdesign())],
        script:
            "../scripts/generate_synthetic_nsd.py"

elif config["source"] == "nsd":

    # each key's log and download record (read by verify)
    DOWNLOAD_LOGS = "logs/download_nsd"

    localrules:
        download_nsd,
        download_coco_captions,
        subset_stimuli,
        verify,

    rule download_nsd:
        output:
            protected(nsd("{key}")),
        log:
            text=f"{DOWNLOAD_LOGS}/{{key}}.log",
            record=f"{DOWNLOAD_LOGS}/{{key}}.json",
        wildcard_constraints:
            key=r"nsddata(?!_stimuli/stimuli/nsd/annotations/).+",
        retries: 2
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            **NETWORK,
            mem_mb=memory(1000),
            runtime=minutes(240),
        params:
            key=lambda wc: wc.key,
        script:
            "../scripts/download_nsd.py"

    rule verify:
        """On demand (`snakemake verify`): every downloaded file against the size
        and SHA-256 its download recorded; fails naming the files that changed.
        No output, so it runs whenever it is asked for."""
        log:
            "logs/verify_downloads.log",
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=memory(1000),
            runtime=minutes(10, 1),
        params:
            records=DOWNLOAD_LOGS,
            root=config["nsd_root"],
        script:
            "../scripts/verify_downloads.py"

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
            mem_mb=memory(2000),
            runtime=minutes(60),
            retries=NETWORK["retries"],
        params:
            url="http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
        script:
            "../scripts/download_coco_captions.py"


rule subset_stimuli:
    input:
        expdesign=nsd(layout.expdesign()),
        # synthetic: the generated file; nsd: a local copy when one exists, else none:
        # the job reads the bucket's by range requests (a localrule then), and no
        # 40 GB download is scheduled.
        full=local_stimuli(),
    output:
        "results/{subject}/stimuli.h5",
    log:
        "logs/subset_stimuli/{subject}.log",
    benchmark:
        "benchmarks/subset_stimuli/{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        **NETWORK,
        mem_mb=memory(4000),
        runtime=minutes(240),
    params:
        sessions=config["betas"]["sessions"],
        trials_per_session=trials_per_session(),
    script:
        "../scripts/subset_stimuli.py"


rule subject_captions:
    input:
        captions=caption_files(),
        stim_info=nsd(layout.stim_info()),
        expdesign=nsd(layout.expdesign()),
    output:
        "results/{subject}/captions.tsv",
    log:
        "logs/subject_captions/{subject}.log",
    benchmark:
        "benchmarks/subject_captions/{subject}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000, 4),
        runtime=minutes(10),
    params:
        sessions=config["betas"]["sessions"],
        trials_per_session=trials_per_session(),
    script:
        "../scripts/subject_captions.py"
