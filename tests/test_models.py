"""Loading Versatile Diffusion components: tiny configs, seeded weights, clear errors."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nsdrecon.models import COMPONENTS, ModelWeightsNotFound, load_versatile_diffusion, resolve_device, torch_dtype
from nsdrecon.synthetic.captions import scene_captions
from nsdrecon.synthetic.scenes import sample_scenes

torch.set_num_threads(1)

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"
TINY = MODELS / "tiny-versatile-diffusion"
NETWORKS = ("vae", "image_unet", "text_unet", "image_encoder", "text_encoder")


@pytest.fixture(scope="module")
def vd():
    return load_versatile_diffusion(TINY, random_init=True, seed=0)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return module.state_dict()


def test_tiny_model_has_vd_classes_and_shapes(vd):
    assert type(vd.image_unet).__name__ == "UNet2DConditionModel"
    assert type(vd.text_unet).__name__ == "UNetFlatConditionModel"
    assert type(vd.vae).__name__ == "AutoencoderKL"
    assert type(vd.image_encoder).__name__ == "CLIPVisionModelWithProjection"
    assert type(vd.text_encoder).__name__ == "CLIPTextModelWithProjection"
    assert type(vd.scheduler).__name__ == "DDIMScheduler"
    assert vd.image_size == 64
    assert vd.vae_scale_factor == 4
    assert vd.latent_shape == (4, 16, 16)
    assert vd.image_tokens == (65, 64)
    assert vd.text_tokens == (77, 64)
    trained = json.loads((TINY / "training.json").read_text())["vae"]["scaling_factor"]
    assert vd.vae.config.scaling_factor == pytest.approx(trained)  # set by training (1 / std of the latents)
    assert vd.image_unet.config.cross_attention_dim == 64
    assert vd.random_init and vd.seed == 0
    assert not any(p.requires_grad for p in vd.image_unet.parameters())
    # SDPA attention everywhere
    assert {type(p).__name__ for p in vd.image_unet.attn_processors.values()} == {"AttnProcessor2_0"}
    assert vd.image_encoder.config._attn_implementation == "sdpa"


def test_tiny_scheduler_matches_vd_ddim(vd):
    config = vd.scheduler.config
    assert (config.beta_start, config.beta_end, config.beta_schedule) == (0.00085, 0.012, "scaled_linear")
    assert (config.clip_sample, config.set_alpha_to_one, config.steps_offset) == (False, False, 1)
    vd.scheduler.set_timesteps(50)
    assert vd.scheduler.timesteps[:3].tolist() == [981, 961, 941]


def test_same_seed_same_weights_other_seed_other_weights(vd):
    again = load_versatile_diffusion(TINY, random_init=True, seed=0)
    other = load_versatile_diffusion(TINY, random_init=True, seed=1)
    for name in NETWORKS:
        first, second, third = (_state(getattr(m, name)) for m in (vd, again, other))
        assert all(torch.equal(first[key], second[key]) for key in first), name
        assert not all(torch.equal(first[key], third[key]) for key in first), name


def test_component_subset_has_the_same_weights(vd):
    subset = load_versatile_diffusion(TINY, random_init=True, seed=0, components=["text_encoder", "tokenizer"])
    assert subset.vae is None and subset.image_unet is None and subset.image_processor is None
    full, part = _state(vd.text_encoder), _state(subset.text_encoder)
    assert all(torch.equal(full[key], part[key]) for key in full)
    assert subset.text_tokens == vd.text_tokens == (77, 64)
    with pytest.raises(ValueError, match="unknown Versatile Diffusion components"):
        load_versatile_diffusion(TINY, random_init=True, components=["unet"])
    assert set(COMPONENTS) >= set(NETWORKS)


def test_components_are_distinct_random_draws(vd):
    # the two UNets' first transformer blocks have equal shapes but must not be equal copies
    image_q = vd.image_unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q.weight
    text_q = vd.text_unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q.weight
    assert image_q.shape == text_q.shape
    assert not torch.equal(image_q, text_q)


def test_missing_folder_raises_with_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelWeightsNotFound) as caught:
        load_versatile_diffusion(missing, random_init=True)
    message = str(caught.value)
    assert str(missing) in message
    assert "huggingface-cli download shi-labs/versatile-diffusion" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_a_transformers_component_without_config_raises_with_path(tmp_path):
    # transformers 5 would build a default-size text encoder from a folder without config.json
    no_config = tmp_path / "tiny-versatile-diffusion"
    shutil.copytree(TINY, no_config)
    (no_config / "text_encoder/config.json").unlink()
    with pytest.raises(ModelWeightsNotFound, match=f"no config.json in {no_config / 'text_encoder'}"):
        load_versatile_diffusion(no_config, random_init=True, components=["text_encoder"])


def test_pickle_weights_are_refused_until_converted(tmp_path):
    """Weights load from safetensors only; a folder with *.bin weights names the command that converts them."""
    from safetensors.torch import load_file

    from nsdrecon.models.convert_weights import convert_folder

    pickled = tmp_path / "tiny-versatile-diffusion"
    shutil.copytree(TINY, pickled)
    for sub, name, bin_name in [("text_encoder", "model", "pytorch_model"), ("vae", "diffusion_pytorch_model", None)]:
        weights = pickled / sub / f"{name}.safetensors"
        torch.save(load_file(weights), weights.with_name(f"{bin_name or name}.bin"))
        weights.unlink()
    for component in ("text_encoder", "vae"):
        with pytest.raises(ModelWeightsNotFound, match="pickle weights") as caught:
            load_versatile_diffusion(pickled, components=[component])
        assert f"python -m nsdrecon.models.convert_weights {pickled}" in str(caught.value)

    written = convert_folder(pickled)
    assert sorted(p.relative_to(pickled).as_posix() for p in written) == [
        "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors",
    ]
    converted = load_versatile_diffusion(pickled, components=["text_encoder", "vae"])
    original = load_versatile_diffusion(TINY, components=["text_encoder", "vae"])
    for component in ("text_encoder", "vae"):
        theirs = getattr(original, component).state_dict()
        for key, value in getattr(converted, component).state_dict().items():
            assert torch.equal(value, theirs[key]), (component, key)
    assert convert_folder(pickled) == []  # nothing left to convert


def test_pretrained_load_without_weights_raises_once(tmp_path):
    # a copy of the tiny folder with configs only: asking for pretrained weights must fail clearly
    configs_only = tmp_path / "tiny-versatile-diffusion"
    shutil.copytree(TINY, configs_only, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ModelWeightsNotFound) as caught:
        load_versatile_diffusion(configs_only, random_init=False)
    assert str(configs_only) in str(caught.value)
    assert "models.diffusion.id" in str(caught.value)


def test_shipped_tiny_weights_load_as_pretrained():
    vd = load_versatile_diffusion(TINY, random_init=False)
    random = load_versatile_diffusion(TINY, random_init=True, seed=0)
    assert not vd.random_init and vd.seed is None
    assert not torch.equal(vd.image_unet.conv_in.weight, random.image_unet.conv_in.weight)


def test_hub_id_offline_raises(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with pytest.raises(ModelWeightsNotFound, match="shi-labs/versatile-diffusion"):
        load_versatile_diffusion("shi-labs/versatile-diffusion", components=["scheduler"])


def test_torch_dtype():
    assert torch_dtype("float16") is torch.float16 and torch_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be one of"):
        torch_dtype("half")


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda'"):
        resolve_device("tpu")


def _tokenizer_script():
    spec = importlib.util.spec_from_file_location("make_tiny_tokenizer", MODELS / "make_tiny_tokenizer.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_tokenizer_has_whole_words_and_no_unknowns(vd):
    tokenizer = vd.tokenizer
    words = _tokenizer_script().CAPTION_WORDS
    encoded = tokenizer(" ".join(words)).input_ids
    assert len(encoded) == len(words) + 2  # one token per caption word, plus start and end
    assert tokenizer("A large red circle.").input_ids[1:-1] == tokenizer.convert_tokens_to_ids(
        ["a</w>", "large</w>", "red</w>", "circle</w>", ".</w>"]
    )
    # words outside the caption vocabulary fall back to byte-level pieces, never to unknowns
    for text in ["Zebra #42 crossing, naïve café 日本", "UPPER lower 3.14"]:
        ids = tokenizer(text).input_ids
        assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
        assert tokenizer.unk_token_id not in ids[1:-1]
        assert tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "") == text.lower().replace(" ", "")
    padded = tokenizer([""], padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert padded.shape == (1, 77)


def test_synthetic_captions_are_whole_word_tokens(vd):
    rng = np.random.default_rng(0)
    scenes = sample_scenes(rng, 200)
    captions = [caption for i in range(len(scenes)) for caption in scene_captions(scenes.spec(i), rng)]
    tokens = [token for caption in captions for token in vd.tokenizer.tokenize(caption)]
    assert [token for token in tokens if not token.endswith("</w>")] == []  # no word split into pieces
    assert max(len(vd.tokenizer(caption).input_ids) for caption in captions) <= 77  # nothing truncated


def test_text_encoder_matches_tokenizer(vd):
    config = vd.text_encoder.config
    assert config.vocab_size == len(vd.tokenizer)
    assert config.eos_token_id == vd.tokenizer.eos_token_id
    assert config.bos_token_id == vd.tokenizer.bos_token_id


def test_tokenizer_script_reproduces_committed_files(tmp_path):
    script = _tokenizer_script()
    copy = tmp_path / "tiny"
    shutil.copytree(TINY / "text_encoder", copy / "text_encoder")
    config = json.loads((copy / "text_encoder" / "config.json").read_text())
    config.update(vocab_size=1, eos_token_id=0)
    (copy / "text_encoder" / "config.json").write_text(json.dumps(config))
    script.write_tokenizer(copy)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        assert filecmp.cmp(copy / "tokenizer" / name, TINY / "tokenizer" / name, shallow=False), name
    assert filecmp.cmp(copy / "text_encoder" / "config.json", TINY / "text_encoder" / "config.json", shallow=False)
