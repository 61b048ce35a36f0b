"""Text contexts as the authors build them, under transformers 4.19.2, on the project's tiny text encoders.

* Brain-Diffuser (ozcelikfu/brain-diffuser 31d52c0): scripts/cliptext_extract_features.py encodes all of an image's
  captions with VD.clip_encode_text -> FrozenCLIP.encode_text (versatile_diffusion/lib/model_zoo/clip.py) and
  averages them; the unconditional text is clip_encode_text('').
* MindDiffuser (ReedOnePeck/MindDiffuser c9773ac): `Feature extractor/Semantic_feature_extraction.py` averages
  LDM_model.get_learned_conditioning([caption]) over the first five captions; data/utils_data/v1-inference.yaml
  sets the cond stage FrozenCLIPEmbedder's max_length to 15 (CompVis/stable-diffusion 21f890f,
  ldm/modules/encoders/modules.py); the unconditional context is get_learned_conditioning([""]).
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file

from common import CAPTIONS, OUT, PEER, TINY_SD, TINY_VD, TMP

sys.path.insert(0, f"{PEER}/openai+CLIP")
sys.path.insert(0, f"{PEER}/CompVis+stable-diffusion")
sys.path.insert(1, f"{PEER}/ozcelikfu+brain-diffuser/versatile_diffusion")
import transformers  # noqa: E402

transformers.CLIPProcessor.tokenizer_class = "CLIPTokenizer"  # no `tokenizers` wheel for 4.19 on Python 3.11
from ldm.modules.encoders.modules import FrozenCLIPEmbedder  # noqa: E402
from lib.model_zoo.clip import FrozenCLIP  # noqa: E402

def text_folder(model_dir: str, dest: str, with_vision: bool) -> str:
    """A transformers-4.19 folder (pytorch_model.bin) of a tiny text encoder, its tokenizer, and for VD a CLIPModel."""
    os.makedirs(dest, exist_ok=True)
    text_cfg = {k: v for k, v in json.load(open(f"{model_dir}/text_encoder/config.json")).items() if not k.startswith("_")}
    state = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v
             for k, v in load_file(f"{model_dir}/text_encoder/model.safetensors").items()}
    if with_vision:
        vision_cfg = {k: v for k, v in json.load(open(f"{model_dir}/image_encoder/config.json")).items() if not k.startswith("_")}
        config = {"model_type": "clip", "architectures": ["CLIPModel"], "projection_dim": vision_cfg["projection_dim"],
                  "text_config_dict": text_cfg, "vision_config_dict": vision_cfg}
        state.update(load_file(f"{model_dir}/image_encoder/model.safetensors"))
        state["logit_scale"] = torch.tensor(2.6592)
        processor = json.load(open(f"{model_dir}/image_feature_extractor/preprocessor_config.json"))
        processor.update(size=processor["size"]["shortest_edge"], crop_size=processor["crop_size"]["height"],
                         feature_extractor_type="CLIPFeatureExtractor")
        json.dump(processor, open(f"{dest}/preprocessor_config.json", "w"))
    else:
        config = text_cfg
    json.dump(config, open(f"{dest}/config.json", "w"))
    torch.save(state, f"{dest}/pytorch_model.bin")
    os.system(f"cp {model_dir}/tokenizer/* {dest}/")
    return dest


def main():
    results = {}
    folder = text_folder(TINY_VD, f"{TMP}/vd_text", with_vision=True)
    clip = FrozenCLIP(version=folder)
    assert set(torch.load(f"{folder}/pytorch_model.bin")) <= set(clip.model.state_dict())
    with torch.no_grad():
        for i, captions in enumerate(CAPTIONS):
            results[f"brain_diffuser_text_{i}"] = clip.encode_text(captions).numpy().mean(0)  # as cliptext_extract_features
        results["brain_diffuser_uncond_text"] = clip.encode_text("").numpy()[0]
        folder = text_folder(TINY_SD, f"{TMP}/sd_text", with_vision=False)
        embedder = FrozenCLIPEmbedder(version=folder, device="cpu", max_length=15)
        assert set(torch.load(f"{folder}/pytorch_model.bin")) == set(embedder.transformer.state_dict()) - {"text_model.embeddings.position_ids"}
        for i, captions in enumerate(CAPTIONS):
            average = 0
            for caption in captions[:5]:
                average = average + embedder.encode([caption]).numpy().squeeze()
            results[f"minddiffuser_text_{i}"] = average / 5
        results["minddiffuser_uncond_text"] = embedder.encode([""]).numpy()[0]
    np.savez_compressed(f"{OUT}/text_conditioning.npz", **results, transformers_version=np.array(transformers.__version__))
    print({k: v.shape for k, v in results.items()})


if __name__ == "__main__":
    main()
