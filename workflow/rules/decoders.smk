# Decoders: closed-form ridge (alpha chosen by cross-validation) for every
# target of a stream, then a ridge-initialised network fine-tuned on top
# (Structural Generator for the structural stream, Semantic Extractor for the
# semantic stream). Writes the model, held-out scores and test predictions.


rule train_decoder:
    input:
        betas=rules.betas.output[0],
        features=rules.stimulus_features.output[0],
    output:
        model="results/{subject}/decoders/{stream}.safetensors",
        predictions="results/{subject}/decoders/{stream}_test_predictions.h5",
        scores="results/{subject}/decoders/{stream}_scores.tsv",
        history="results/{subject}/decoders/{stream}_history.tsv",
    log:
        "logs/train_decoder/{subject}_{stream}.log",
    benchmark:
        "benchmarks/train_decoder/{subject}_{stream}.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(3000, 2.5),
        runtime=minutes(20, 10),
        gpu=use_gpu(),
        device=DEVICE,
        target_block=config["ridge"]["target_block"],
    params:
        targets=lambda wc: config["decoders"]["streams"][wc.stream],
        ridge=stage_settings("ridge", settings.RidgeFit),
        training=stage_settings("decoders", settings.DecoderTraining),
    script:
        "../scripts/train_decoder.py"


rule train_minddiffuser_decoder:
    input:
        betas=rules.betas.output[0],
        features=rules.minddiffuser_features.output[0],
    output:
        predictions="results/{subject}/decoders/minddiffuser_test_predictions.h5",
        scores="results/{subject}/decoders/minddiffuser_scores.tsv",
    log:
        "logs/train_decoder/{subject}_minddiffuser.log",
    benchmark:
        "benchmarks/train_decoder/{subject}_minddiffuser.tsv"
    conda:
        f"{ENVS}/gpu.yaml"
    threads: 1
    resources:
        mem_mb=memory(3000, 2),
        runtime=minutes(20, 20),
        gpu=use_gpu(),
        device=DEVICE,
        target_block=config["ridge"]["target_block"],
    params:
        decoding=stage_settings("minddiffuser", settings.MindDiffuserDecoding),
        ridge=stage_settings("ridge", settings.RidgeFit),
    script:
        "../scripts/train_minddiffuser_decoder.py"
