# Reconstruction: HAVIR (dual-guided Versatile Diffusion from the decoded
# structural latent, guided by decoded CLIP image and text tokens), its
# ablations, MindDiffuser's two stages, the oracles (the same generators from
# the test images' true features) and the weight-free pixel_ridge baseline.


rule havir_oracle_inputs:
    input:
        betas=rules.betas.output[0],
        features=rules.stimulus_features.output[0],
    output:
        "results/{subject}/oracle/havir_inputs.h5",
    log:
        "logs/oracle_inputs/{subject}_havir.log",
    benchmark:
        "benchmarks/oracle_inputs/{subject}_havir.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000, 0.25),
        runtime=minutes(5, 1),
    script:
        "../scripts/oracle_inputs.py"


rule minddiffuser_oracle_inputs:
    input:
        betas=rules.betas.output[0],
        features=rules.minddiffuser_features.output[0],
        predictions=rules.train_minddiffuser_decoder.output.predictions,
    output:
        "results/{subject}/oracle/minddiffuser_inputs.h5",
    log:
        "logs/oracle_inputs/{subject}_minddiffuser.log",
    benchmark:
        "benchmarks/oracle_inputs/{subject}_minddiffuser.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000, 0.25),
        runtime=minutes(5, 1),
    script:
        "../scripts/oracle_inputs.py"


rule reconstruct_havir:
    input:
        unpack(havir_inputs),
        model=model_inputs(config["models"]["diffusion"]["id"]),
    output:
        images="results/{subject}/{havir_method}/reconstructions.h5",
    log:
        "logs/reconstruct/{subject}_{havir_method}.log",
    benchmark:
        "benchmarks/reconstruct/{subject}_{havir_method}.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(3000, 5),
        runtime=minutes(20, 50),
        gpu=use_gpu(),
        device=DEVICE,
        batch_size=config["reconstruct"]["batch_size"],
    params:
        model=diffusion_model(),
        dtype=config["models"]["dtype"],
        sampler=stage_settings("reconstruct", settings.HavirSampler),
    script:
        "../scripts/reconstruct_havir.py"


rule reconstruct_pixel_ridge:
    input:
        betas=rules.betas.output[0],
        stimuli=lambda wc: subject_stimuli(wc.subject),
    output:
        images="results/{subject}/pixel_ridge/reconstructions.h5",
        model="results/{subject}/pixel_ridge/model.safetensors",
    log:
        "logs/reconstruct/{subject}_pixel_ridge.log",
    benchmark:
        "benchmarks/reconstruct/{subject}_pixel_ridge.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(2000, 4),
        runtime=minutes(10, 30),
    params:
        pixel_ridge=config["reconstruct"]["pixel_ridge"],
        ridge=stage_settings("ridge", settings.RidgeFit),
    script:
        "../scripts/reconstruct_pixel_ridge.py"


rule reconstruct_minddiffuser:
    input:
        predictions=minddiffuser_inputs,
        model=model_inputs(
            config["minddiffuser"]["model"]["id"], config["minddiffuser"]["clip"]["id"]
        ),
    output:
        images="results/{subject}/{md_method}/reconstructions.h5",
    log:
        "logs/reconstruct/{subject}_{md_method}.log",
    benchmark:
        "benchmarks/reconstruct/{subject}_{md_method}.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(3000, 6),
        runtime=minutes(30, 500),
        gpu=use_gpu(),
        device=DEVICE,
        batch_size=config["minddiffuser"]["batch_size"],
    params:
        model=minddiffuser_model("model"),
        clip=minddiffuser_model("clip"),
        dtype=config["models"]["dtype"],
        sampler=stage_settings("minddiffuser", settings.MindDiffuserSampler),
        refine=lambda wc: wc.md_method != "minddiffuser_stage1",
    script:
        "../scripts/reconstruct_minddiffuser.py"
