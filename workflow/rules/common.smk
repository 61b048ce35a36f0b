# Config validation, path helpers and input functions shared by every rule file.

import sys
from pathlib import Path

from snakemake.utils import validate

# One way to import the package in the workflow, no installation needed: the
# Snakefile and every rule script find it as workflow/scripts/nsdrecon, a link
# to src/nsdrecon (Snakemake puts a script's folder on its path).
sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))
from nsdrecon import layout, published, settings, things  # noqa: E402
from nsdrecon.cortex.transforms import (
    DEPTHS,
    TO_FSAVERAGE,
    volume_to_surface_name,
)  # noqa: E402
from nsdrecon.hub import model_files  # noqa: E402
from nsdrecon.job_resources import memory, minutes  # noqa: E402
from nsdrecon.config_checks import (
    check_config,
    check_device,
    resolve_model_source,
)  # noqa: E402
from nsdrecon.synthetic.design import n_sessions  # noqa: E402

# The schema is generated from the typed config (nsdrecon.settings); the typed config also
# checks what a schema cannot say (settings that contradict each other), before any job runs.
validate(config, schema="../schemas/config.schema.yaml")
settings.load(config)

# The generated dataset marks its folder; real NSD must never be read from there.
SYNTHETIC_MARKER = layout.SYNTHETIC_TRUTH
if config["source"] == "nsd" and Path(config["nsd_root"], SYNTHETIC_MARKER).exists():
    raise ValueError(
        f"nsd_root {config['nsd_root']!r} holds the generated synthetic dataset ({SYNTHETIC_MARKER}), "
        "but source is 'nsd': its files would pass as NSD downloads. Point nsd_root at another folder "
        "(config/nsd.yaml uses resources/nsd) or delete the synthetic one."
    )

SUBJECTS = config["subjects"]
# fmri (NSD), eeg (THINGS-EEG2) or meg (THINGS-MEG); EEG/MEG rules are in meeg.smk
MODALITY = settings.modality(config["source"])
GENERATED = config["source"].startswith("synthetic")
MEEG_ROOT = config["meeg"]["root"]
if MODALITY != "fmri" and not GENERATED and Path(MEEG_ROOT, SYNTHETIC_MARKER).exists():
    raise ValueError(
        f"meeg.root {MEEG_ROOT!r} holds a generated world ({SYNTHETIC_MARKER}), but source is "
        f"{config['source']!r}: point meeg.root at another folder or delete the generated one."
    )
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
    subject=settings.SUBJECT_PATTERNS[MODALITY],
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
    if MODALITY != "fmri":
        # EEG/MEG subjects have no betas sessions (meeg_responses writes betas.nc)
        return []
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
    if config["stimuli"] == "full" and MODALITY == "fmri":
        return nsd(layout.stimuli())
    return f"results/{subject}/stimuli.h5"


def local_stimuli():
    """NSD's whole imgBrick when it is on disk (generated, or a local copy of the bucket's), else none."""
    path = nsd(layout.stimuli())
    return path if config["source"] == "synthetic" or Path(path).exists() else []


def all_stimuli():
    """Stimulus files covering every configured subject (one when stimuli: full)."""
    return list(dict.fromkeys(subject_stimuli(s) for s in SUBJECTS))


def feature_inputs():
    """What the feature rules read: the subjects' stimuli and captions; NSD adds its design
    and stimulus table (the images seen in the configured sessions, their COCO ids)."""
    files = {"stimuli": all_stimuli()}
    if MODALITY == "fmri":
        files["stim_info"] = nsd(layout.stim_info())
        files["expdesign"] = nsd(layout.expdesign())
    return {**files, "captions": caption_tables()}


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


def stage_settings(section, model):
    """The part of a config section a stage takes: the fields of its typed settings
    (nsdrecon.settings, e.g. RidgeFit of ridge), its rerun triggers. The section's
    other fields are execution settings (resources) or other stages'."""
    return {key: config[section][key] for key in model.model_fields}


def evaluate_inputs(wildcards):
    """A subject's stimuli and every method's reconstructions, keyed by method."""
    s = wildcards.subject
    files = {m: f"results/{s}/{m}/reconstructions.h5" for m in METHODS}
    return {"stimuli": subject_stimuli(s), **files}


def evaluate_settings():
    """What the metrics depend on (nsdrecon.settings.Metrics), the CLIP folder resolved."""
    metrics = stage_settings("evaluate", settings.Metrics)
    return {**metrics, "clip_id": model_source(metrics["clip_id"])}


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


# NSD's surface transforms of a subject: volume to each depth surface, white surface to fsaverage
SURFACE_TRANSFORMS = [*map(volume_to_surface_name, DEPTHS), TO_FSAVERAGE]


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
        # toy surfaces and NSD's surface transforms (nsdrecon.synthetic.cortex)
        for hemi in layout.HEMISPHERES:
            for surf in ("white", "pial"):
                files[f"{s}_{hemi}_{surf}"] = nsd(layout.surface(s, hemi, surf))
            for name in SURFACE_TRANSFORMS:
                files[f"{s}_{hemi}_{name}"] = nsd(layout.transform(s, hemi, name))
    # fsaverage ROI labels (of a template brain) and copies of the label tables, as NSD ships
    for n in SYNTHETIC_ROIS:
        files[f"fsaverage_ctab_{n}"] = nsd(layout.fsaverage_ctab(n))
        for hemi in layout.HEMISPHERES:
            files[f"fsaverage_{hemi}_{n}"] = nsd(layout.fsaverage_label(hemi, n))
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
    if config["source"] == "synthetic":
        return "synthetic data"
    return "generated data" if GENERATED else ""


# Decoder weights on the cortex (rules/cortex.smk): NSD's surface transforms and fsaverage labels.


def cortex_transforms(wildcards):
    """A subject's surface transforms, named <hemi>_<depth> and <hemi>_<TO_FSAVERAGE>."""
    s = wildcards.subject
    files = {}
    for hemi in layout.HEMISPHERES:
        for depth in DEPTHS:
            files[f"{hemi}_{depth}"] = nsd(
                layout.transform(s, hemi, volume_to_surface_name(depth))
            )
        files[f"{hemi}_{TO_FSAVERAGE}"] = nsd(layout.transform(s, hemi, TO_FSAVERAGE))
    return files


def cortex_roi_names():
    """The ROI files the outlines come from: those of figures.roi_groups."""
    return sorted({roi for g in config["figures"]["roi_groups"] for roi in g["labels"]})


def fsaverage_labels():
    """NSD's fsaverage ROI labels and their tables, named label_<hemi>_<roi>, ctab_<roi>."""
    files = {}
    for roi in cortex_roi_names():
        for hemi in layout.HEMISPHERES:
            files[f"label_{hemi}_{roi}"] = nsd(layout.fsaverage_label(hemi, roi))
        files[f"ctab_{roi}"] = nsd(layout.fsaverage_ctab(roi))
    return files


def cortex_note():
    """Title note: the embedded default's decoders are trained on generated data."""
    if config["source"] == "synthetic":
        return "synthetic data: decoders trained on generated subjects; generated transforms, fsaverage5 as fsaverage"
    return ""


def final_outputs():
    if MODALITY != "fmri":
        return meeg_outputs()  # meeg.smk
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
    # decoder weights on fsaverage (NSD's transforms); the volume slices above stay
    outputs += expand("results/figures/cortex_{subject}.png", subject=SUBJECTS)
    outputs += ["results/figures/cortex_subjects.png"]
    if ablations():
        outputs += ["results/figures/ablations.png"]
    return outputs


# ---- EEG/MEG (rules in meeg.smk)
# Where each file comes from when it is fetched: THINGS-MEG by key from OpenNeuro's
# bucket; THINGS-EEG2 from OSF, found by name through its API (meeg.osf_api).


def meeg_root(key):
    return f"{MEEG_ROOT}/{key}"


def meg_url(key):
    return f"{config['meeg']['meg_url'].rstrip('/')}/{key}"


def eeg_subject_file(split):
    """A THINGS-EEG2 subject's file of one split, with a {subject} wildcard."""
    return meeg_root(things.preprocessed_eeg(1, split).replace("sub-01", "{subject}"))


def meeg_subject_files(subject):
    """A subject's data files (and the image metadata and archives they index), relative to meeg.root."""
    if MODALITY == "eeg":
        files = [things.preprocessed_eeg(subject, split) for split in ("train", "test")]
        image_set = list(things.IMAGE_SET_FILES)
        return files + (image_set[:1] if GENERATED else image_set)
    return [*things.epoch_files(subject), things.sample_attributes(subject)]


def meeg_subject_inputs(wildcards):
    return {
        f"file_{i}": meeg_root(key)
        for i, key in enumerate(meeg_subject_files(wildcards.subject))
    }


def synthetic_meeg_outputs():
    """What the generated world's job writes (its images besides): each subject's files and the truth."""
    keys = dict.fromkeys(k for s in SUBJECTS for k in meeg_subject_files(s))
    files = {f"file_{i}": meeg_root(k) for i, k in enumerate(keys)}
    return {**files, "truth": meeg_root(SYNTHETIC_MARKER)}


def meeg_response_settings():
    """The part of `meeg` a subject's responses depend on (their rerun triggers)."""
    keys = ["things_images", "channels", "window", "train_trials", "test_repetitions"]
    return {k: config["meeg"][k] for k in [*keys, "decimate", "image_size", "streams"]}


def meeg_outputs():
    """The default target of an EEG/MEG run."""
    outputs = [
        "results/tables/metrics.tsv",
        "results/tables/metrics.md",
        "results/tables/metrics.tex",
        "results/figures/metrics.png",
        "results/figures/temporal_decoding.png",
        "results/figures/topographies.png",
    ]
    outputs += expand("results/figures/reconstructions_{subject}.png", subject=SUBJECTS)
    outputs += expand("results/figures/topographies_{subject}.png", subject=SUBJECTS)
    if ablations():
        outputs += ["results/figures/ablations.png"]
    return outputs
