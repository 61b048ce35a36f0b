# EEG and MEG (THINGS-EEG2, THINGS-MEG, or their generated worlds): each subject's
# sensor responses become the files the shared stages read for NSD
# (results/{subject}/betas.nc, stimuli.h5, captions.tsv), so features, decoders,
# reconstruction and evaluation run unchanged; the temporal decoding and the
# topographies are this family's own interpretability. Used only when `source`
# is an EEG/MEG one.

if MODALITY != "fmri":

    # the fMRI rules writing the same per-subject files stay defined (never for these subjects)
    ruleorder: meeg_responses > betas
    ruleorder: meeg_responses > subset_stimuli
    ruleorder: meeg_responses > subject_captions

    if GENERATED:

        rule generate_synthetic_meeg:
            output:
                **synthetic_meeg_outputs(),
            log:
                "logs/generate_synthetic_meeg.log",
            benchmark:
                "benchmarks/generate_synthetic_meeg.tsv"
            conda:
                f"{ENVS}/data.yaml"
            threads: 1
            resources:
                mem_mb=memory(4000),
                runtime=minutes(30),
            params:
                modality=MODALITY,
                root=lambda wc, output: output.truth[: -len(SYNTHETIC_MARKER) - 1],
                subjects=SUBJECTS,
                synthetic=config["meeg"]["synthetic"],
            script:
                "../scripts/generate_synthetic_meeg.py"

    elif MODALITY == "meg":

        localrules:
            download_things,

        rule download_things:
            output:
                protected(f"{MEEG_ROOT}/{{key}}"),
            log:
                "logs/download_things/{key}.log",
            wildcard_constraints:
                key=r"(derivatives|sourcedata)/.+",
            retries: 2
            conda:
                f"{ENVS}/data.yaml"
            threads: 1
            resources:
                url=lambda wc: meg_url(wc.key),
                parallel=config["download"]["parallel"],
                retries=config["download"]["retries"],
                mem_mb=memory(1000),
                runtime=minutes(240),
            script:
                "../scripts/download_things.py"

    else:

        localrules:
            download_osf,
            download_eeg_subject,

        # the image set: image_metadata.npy and the two zipped image folders
        rule download_osf:
            output:
                protected(f"{MEEG_ROOT}/{things.images.IMAGE_SET}/{{name}}"),
            log:
                "logs/download_osf/{name}.log",
            wildcard_constraints:
                name=r"[^/]+",
            retries: 2
            conda:
                f"{ENVS}/data.yaml"
            threads: 1
            resources:
                api=config["meeg"]["osf_api"],
                parallel=config["download"]["parallel"],
                retries=config["download"]["retries"],
                mem_mb=memory(1000),
                runtime=minutes(240),
            params:
                project=things.images.OSF_PROJECT,
                name=lambda wc: wc.name,
            script:
                "../scripts/download_osf.py"

        # a subject's two files, from its archive (sub-XX.zip)
        rule download_eeg_subject:
            output:
                train=protected(eeg_subject_file("train")),
                test=protected(eeg_subject_file("test")),
            log:
                "logs/download_eeg_subject/{subject}.log",
            retries: 2
            conda:
                f"{ENVS}/data.yaml"
            threads: 1
            resources:
                api=config["meeg"]["osf_api"],
                parallel=config["download"]["parallel"],
                retries=config["download"]["retries"],
                mem_mb=memory(1000),
                runtime=minutes(240),
            params:
                subject=lambda wc: wc.subject,
            script:
                "../scripts/download_eeg_subject.py"

    rule meeg_responses:
        input:
            unpack(meeg_subject_inputs),
        output:
            betas="results/{subject}/betas.nc",
            sensors="results/{subject}/meeg/sensors.nc",
            stimuli="results/{subject}/stimuli.h5",
            captions="results/{subject}/captions.tsv",
        log:
            "logs/meeg_responses/{subject}.log",
        benchmark:
            "benchmarks/meeg_responses/{subject}.tsv"
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=memory(3000, 3),
            runtime=minutes(10, 10),
        params:
            modality=MODALITY,
            root=lambda wc, input: input.file_0[
                : -len(meeg_subject_files(wc.subject)[0]) - 1
            ],
            meeg=meeg_response_settings(),
        script:
            "../scripts/meeg_responses.py"

    rule temporal_decoding:
        input:
            sensors=rules.meeg_responses.output.sensors,
            features=rules.stimulus_features.output[0],
        output:
            scores="results/{subject}/meeg/temporal_decoding.tsv",
            patterns="results/{subject}/meeg/patterns.nc",
        log:
            "logs/temporal_decoding/{subject}.log",
        benchmark:
            "benchmarks/temporal_decoding/{subject}.tsv"
        conda:
            f"{ENVS}/gpu.yaml"
        threads: 1
        resources:
            mem_mb=memory(3000, 3),
            runtime=minutes(10, 30),
            gpu=use_gpu(),
            device=DEVICE,
        params:
            temporal=config["meeg"]["temporal"],
            ridge=stage_settings("ridge", settings.RidgeFit),
        script:
            "../scripts/temporal_decoding.py"

    rule figure_temporal:
        input:
            scores=expand(
                "results/{subject}/meeg/temporal_decoding.tsv", subject=SUBJECTS
            ),
        output:
            png=report(
                "results/figures/temporal_decoding.png",
                caption="../report/temporal.rst",
                category="Interpretability",
            ),
            pdf="results/figures/temporal_decoding.pdf",
        log:
            "logs/figures/temporal_decoding.log",
        benchmark:
            "benchmarks/figures/temporal_decoding.tsv"
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=memory(2000),
            runtime=minutes(10),
        params:
            title_note=subject_note(),
        script:
            "../scripts/figure_temporal.py"

    rule figure_topographies:
        input:
            patterns=[rules.temporal_decoding.output.patterns],
        output:
            png=report(
                "results/figures/topographies_{subject}.png",
                caption="../report/topographies.rst",
                category="Interpretability",
                subcategory="{subject}",
            ),
            pdf="results/figures/topographies_{subject}.pdf",
        log:
            "logs/figures/topographies_{subject}.log",
        benchmark:
            "benchmarks/figures/topographies_{subject}.tsv"
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=memory(2000),
            runtime=minutes(10),
        params:
            title_note=subject_note(),
        script:
            "../scripts/figure_topographies.py"

    rule figure_topographies_subjects:
        input:
            patterns=expand("results/{subject}/meeg/patterns.nc", subject=SUBJECTS),
        output:
            png=report(
                "results/figures/topographies.png",
                caption="../report/topographies.rst",
                category="Interpretability",
            ),
            pdf="results/figures/topographies.pdf",
        log:
            "logs/figures/topographies.log",
        benchmark:
            "benchmarks/figures/topographies.tsv"
        conda:
            f"{ENVS}/data.yaml"
        threads: 1
        resources:
            mem_mb=memory(2000),
            runtime=minutes(10),
        params:
            title_note=subject_note(),
        script:
            "../scripts/figure_topographies.py"
