# Config validation, path helpers and input functions shared by every rule file.

import sys
from pathlib import Path

from snakemake.utils import validate

# The package is importable without installation: rule scripts find it
# through workflow/scripts/nsdrecon; the Snakefile itself through src/.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from nsdrecon import layout, settings  # noqa: E402
from nsdrecon.hub import model_files  # noqa: E402
from nsdrecon.job_resources import memory, minutes  # noqa: E402
from nsdrecon.config_checks import (
    check_config,
    check_device,
    resolve_model_source,
)  # noqa: E402
from nsdrecon.synthetic.design import n_sessions  # noqa: E402

# The schema is generated from the typed config (nsdrecon.settings).
validate(config, schema="../schemas/config.schema.yaml")

# The generated dataset marks its folder; real NSD must never be read from there.
SYNTHETIC_MARKER = layout.SYNTHETIC_TRUTH
if config["source"] == "nsd" and Path(config["nsd_root"], SYNTHETIC_MARKER).exists():
    raise ValueError(
        f"nsd_root {config['nsd_root']!r} holds the generated synthetic dataset ({SYNTHETIC_MARKER}), "
        "but source is 'nsd': its files would pass as NSD downloads. Point nsd_root at another folder "
        "(config/nsd.yaml uses resources/nsd) or delete the synthetic one."
    )

SUBJECTS = config["subjects"]
STREAMS = ["structural", "semantic"]
HAVIR_METHODS = list(settings.HAVIR_METHODS)
MINDDIFFUSER_METHODS = list(settings.MINDDIFFUSER_METHODS)
HAVIR_ABLATIONS = ["havir_no_structure", "havir_no_text", "havir_no_image"]
METHODS = config["reconstruct"]["methods"]
# How a job computes, not what (device, batch sizes, ridge.target_block, download
# connections) travels in `resources:`, which Snakemake does not treat as a rerun
# trigger (params are): switching one changes no result beyond rounding (tested), so
# it must not redo finished jobs. `--set-resources RULE:batch_size=4` overrides one.
DEVICE = config["models"]["device"]
ENVS = "../../envs"
PUBLISHED_RESULTS = str(Path(workflow.basedir) / "resources" / "published_results.tsv")

# What the schema cannot know (ROI files and labels, sessions, model folders),
# checked before any job starts, so that a typo deletes no finished output.
check_config(
    config,
    workflow.basedir,
    generative=[
        *(
            [("models.diffusion.id", config["models"]["diffusion"]["id"])]
            if set(METHODS) & set(HAVIR_METHODS)
            else []
        ),
        *(
            [
                ("minddiffuser.model.id", config["minddiffuser"]["model"]["id"]),
                ("minddiffuser.clip.id", config["minddiffuser"]["clip"]["id"]),
            ]
            if set(METHODS) & set(MINDDIFFUSER_METHODS)
            else []
        ),
    ],
)


onstart:
    # models.device: cuda needs a GPU where the jobs run: here, unless a cluster
    # executor sends them to nodes (onstart runs neither in dry runs nor on nodes).
    if workflow.local_exec:
        check_device(config)


wildcard_constraints:
    subject="subj0[1-8]",
    stream="structural|semantic",
    havir_method="|".join(HAVIR_METHODS),
    md_method="|".join(MINDDIFFUSER_METHODS),


def nsd(key):
    """Local path of an NSD bucket key."""
    return f"{config['nsd_root']}/{key}"


def n_sessions_available():
    """Sessions that exist: the synthetic design's count, or the configured count for NSD."""
    if config["source"] == "synthetic":
        s = config["synthetic"]
        return n_sessions(s["n_images_per_subject"], s["trials_per_session"])
    return config["betas"]["sessions"]


def trials_per_session():
    """NSD has 750 trials per session; the synthetic design may use another count."""
    if config["source"] == "synthetic":
        return config["synthetic"]["trials_per_session"]
    return 750


def beta_sessions(subject, fmt=None):
    """Beta files of the sessions the config selects, in the configured format."""
    b = config["betas"]
    return [
        nsd(layout.betas(subject, s, fmt or b["format"], b["version"]))
        for s in range(1, b["sessions"] + 1)
    ]


def roi_names():
    """ROI files the mask definition reads (label sets plus the intersecting ROI)."""
    m = config["masks"]
    return sorted(set(m["structural"]) | set(m["semantic"]) | {m["intersect"]})


def roi_inputs(wildcards):
    s = wildcards.subject
    return {
        **{f"roi_{n}": nsd(layout.roi(s, n)) for n in roi_names()},
        **{f"ctab_{n}": nsd(layout.ctab(s, n)) for n in roi_names()},
    }


def caption_files():
    return [nsd(layout.captions(split)) for split in ("train2017", "val2017")]


def subject_stimuli(subject):
    """The stimulus file a subject's stages read: its own subset, or NSD's whole imgBrick (stimuli: full)."""
    if config["stimuli"] == "full":
        return nsd(layout.stimuli())
    return f"results/{subject}/stimuli.h5"


def local_stimuli():
    """NSD's whole imgBrick when it is on disk (generated, or a local copy of the bucket's), else none."""
    path = nsd(layout.stimuli())
    return path if config["source"] == "synthetic" or Path(path).exists() else []


def all_stimuli():
    """Stimulus files covering every configured subject (one when stimuli: full)."""
    return list(dict.fromkeys(subject_stimuli(s) for s in SUBJECTS))


def caption_tables():
    """Each subject's cached caption table (rule subject_captions)."""
    return [f"results/{s}/captions.tsv" for s in SUBJECTS]


def model_source(source):
    """A relative model folder is looked up in the working directory, then in the repository."""
    return resolve_model_source(source, workflow.basedir)


def model_inputs(*sources):
    """Every file a rule's models are loaded from (nsdrecon.hub.model_files), declared
    as inputs: an edited config.json or new weights rerun exactly the rules that load them.
    """
    return sorted({f for s in sources for f in model_files(model_source(s))})


def diffusion_model():
    return {
        **config["models"]["diffusion"],
        "id": model_source(config["models"]["diffusion"]["id"]),
    }


def minddiffuser_model(name):
    """MindDiffuser's Stable Diffusion ("model") or CLIP ViT-B/32 ("clip"), folder resolved."""
    m = config["minddiffuser"][name]
    return {**m, "id": model_source(m["id"])}


def minddiffuser_decoder_settings():
    """What MindDiffuser's decoders depend on (not the sampler settings)."""
    keys = ["clip_layers", "text_tokens", "top_fraction", "voxel_fraction", "alphas"]
    return {k: config["minddiffuser"][k] for k in keys}


def minddiffuser_settings(method):
    """Stage-1 sampler settings, stage-2 refinement settings, and whether stage 2 runs."""
    m = config["minddiffuser"]
    keys = ["num_inference_steps", "strength", "guidance_scale", "seed"]
    return {
        **{k: m[k] for k in keys},
        "stage2": m["stage2"],
        "refine": method != "minddiffuser_stage1",
    }


def ridge_settings():
    """What a ridge fit depends on (target_block is an execution setting: a resource)."""
    return {k: v for k, v in config["ridge"].items() if k != "target_block"}


def evaluate_inputs(wildcards):
    """A subject's stimuli and every method's reconstructions, keyed by method."""
    s = wildcards.subject
    files = {m: f"results/{s}/{m}/reconstructions.h5" for m in METHODS}
    return {"stimuli": subject_stimuli(s), **files}


def evaluate_settings():
    """What the metrics depend on (batch_size is an execution setting: a resource)."""
    return {
        **{k: v for k, v in config["evaluate"].items() if k != "batch_size"},
        "clip_id": model_source(config["evaluate"]["clip_id"]),
    }


def use_gpu():
    """GPU rules ask the scheduler for a GPU unless the config pins the CPU."""
    return 0 if config["models"]["device"] == "cpu" else 1


def generative_models():
    """The diffusion models the configured methods use (Versatile Diffusion, Stable Diffusion)."""
    models = []
    if set(METHODS) & set(HAVIR_METHODS):
        models.append(config["models"]["diffusion"])
    if set(METHODS) & set(MINDDIFFUSER_METHODS):
        models.append(config["minddiffuser"]["model"])
    return models


def title_note():
    """Honest label for figures: random-weight or tiny trained diffusion models."""
    models = generative_models()
    if any(m["random_init"] for m in models):
        return "random-weight diffusion models: their images are noise by design"
    if models and all(layout.tiny_trained(model_source(m["id"])) for m in models):
        return "tiny models trained on generated scenes, not pretrained on real images"
    return ""


SYNTHETIC_ROIS = [
    "nsdgeneral",
    "prf-visualrois",
    "streams",
    "floc-faces",
    "floc-bodies",
    "floc-places",
    "floc-words",
]


def synthetic_outputs():
    files = {
        "expdesign": nsd(layout.expdesign()),
        "stim_info": nsd(layout.stim_info()),
        "stimuli": nsd(layout.stimuli()),
        "truth": f"{config['nsd_root']}/{SYNTHETIC_MARKER}",
    }
    files.update({f"captions_{i}": f for i, f in enumerate(caption_files())})
    for s in SUBJECTS:
        files[f"{s}_brainmask"] = nsd(layout.brainmask(s))
        files[f"{s}_mean"] = nsd(layout.mean_volume(s))
        files[f"{s}_responses"] = nsd(layout.responses(s))
        for n in SYNTHETIC_ROIS:
            files[f"{s}_roi_{n}"] = nsd(layout.roi(s, n))
            files[f"{s}_ctab_{n}"] = nsd(layout.ctab(s, n))
        for fmt in ("hdf5", "nifti"):
            for sess in range(1, n_sessions_available() + 1):
                key = layout.betas(s, sess, fmt, config["betas"]["version"])
                files[f"{s}_{fmt}_{sess:02d}"] = nsd(key)
    return files


def havir_inputs(wildcards):
    """Decoded predictions, or the test images' true features for the oracle."""
    s = wildcards.subject
    if wildcards.havir_method == "havir_oracle":
        oracle = f"results/{s}/oracle/havir_inputs.h5"
        return {"structural": oracle, "semantic": oracle}
    return {
        stream: f"results/{s}/decoders/{stream}_test_predictions.h5"
        for stream in STREAMS
    }


def minddiffuser_inputs(wildcards):
    """Decoded predictions, or the test images' true features for the oracle."""
    s = wildcards.subject
    if wildcards.md_method == "minddiffuser_oracle":
        return f"results/{s}/oracle/minddiffuser_inputs.h5"
    return f"results/{s}/decoders/minddiffuser_test_predictions.h5"


def havir_settings(method):
    """Sampler settings plus which inputs the ablation drops."""
    r = config["reconstruct"]
    keys = ["num_inference_steps", "strength", "guidance_scale", "mix_ratio_text"]
    return {
        **{k: r[k] for k in keys + ["uncond_image", "seed"]},
        "use_structure": method != "havir_no_structure",
        "use_text": method != "havir_no_text",
        "use_image": method != "havir_no_image",
    }


def interpretability_rois(wildcards):
    """ROI volumes and label tables of the ROI groups and of the mask definition."""
    groups = config["figures"]["roi_groups"]
    names = sorted(set(roi_names()).union(*(g["labels"] for g in groups)))
    s = wildcards.subject
    return {
        **{f"roi_{n}": nsd(layout.roi(s, n)) for n in names},
        **{f"ctab_{n}": nsd(layout.ctab(s, n)) for n in names},
    }


def ablations():
    """The configured HAVIR ablations, in HAVIR_ABLATIONS order."""
    return [m for m in HAVIR_ABLATIONS if m in METHODS]


def subject_note():
    """Title note for figures of subject data: says when the subjects are generated."""
    return "synthetic data" if config["source"] == "synthetic" else ""


def final_outputs():
    outputs = [
        "results/tables/metrics.tsv",
        "results/tables/metrics.md",
        "results/tables/metrics.tex",
        "results/figures/metrics.png",
    ]
    outputs += expand("results/figures/reconstructions_{subject}.png", subject=SUBJECTS)
    outputs += expand("results/figures/masks_{subject}.png", subject=SUBJECTS)
    outputs += expand("results/figures/weights_{subject}.png", subject=SUBJECTS)
    outputs += ["results/figures/pathways.png"]
    if ablations():
        outputs += ["results/figures/ablations.png"]
    return outputs
