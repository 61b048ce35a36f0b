# Stimulus features: VAE latents, CLIP image tokens and CLIP text tokens of
# every image the configured subjects saw, from the diffusion model's encoders.


rule stimulus_features:
    input:
        **feature_inputs(),
        model=model_inputs(config["models"]["diffusion"]["id"]),
    output:
        "results/features/versatile_diffusion.h5",
    log:
        "logs/stimulus_features.log",
    benchmark:
        "benchmarks/stimulus_features.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(3000, 4),
        runtime=minutes(20, 15),
        gpu=use_gpu(),
        device=DEVICE,
        batch_size=config["features"]["batch_size"],
    params:
        model=diffusion_model(),
        encoding=stage_settings("features", settings.FeatureEncoding),
        dtype=config["models"]["dtype"],
        subjects=SUBJECTS,
        sessions=config["betas"]["sessions"],
        trials_per_session=trials_per_session(),
    script:
        "../scripts/stimulus_features.py"


rule minddiffuser_features:
    input:
        **feature_inputs(),
        model=model_inputs(
            config["minddiffuser"]["model"]["id"], config["minddiffuser"]["clip"]["id"]
        ),
    output:
        "results/features/minddiffuser.h5",
    log:
        "logs/minddiffuser_features.log",
    benchmark:
        "benchmarks/minddiffuser_features.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(3000, 4),
        runtime=minutes(20, 15),
        gpu=use_gpu(),
        device=DEVICE,
        batch_size=config["features"]["batch_size"],
    params:
        model=minddiffuser_model("model"),
        clip=minddiffuser_model("clip"),
        targets=stage_settings("minddiffuser", settings.MindDiffuserTargets),
        encoding=stage_settings("features", settings.FeatureEncoding),
        dtype=config["models"]["dtype"],
        subjects=SUBJECTS,
        sessions=config["betas"]["sessions"],
        trials_per_session=trials_per_session(),
    script:
        "../scripts/minddiffuser_features.py"
