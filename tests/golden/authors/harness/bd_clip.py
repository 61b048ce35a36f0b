"""Brain-Diffuser's CLIP image context, run with its own code (ozcelikfu/brain-diffuser 31d52c0) under transformers 4.19.2.

* unconditional image: scripts/versatilediffusion_reconstruct_images.py encodes torch.zeros((1,3,224,224))
  with VD.clip_encode_vision (versatile_diffusion/lib/model_zoo/vd.py) -> FrozenCLIP.encode_vision (clip.py);
* stimulus features: scripts/clipvision_extract_features.py's transform (T.functional.resize to 512, to_tensor,
  *2-1) then the same VD.clip_encode_vision.
The CLIP weights are the project's tiny VD encoders, packed into a transformers-4.19 CLIPModel folder.
"""
import json
import os
import sys
import types

import numpy as np
import torch
from PIL import Image
import torchvision.transforms as T
from safetensors.torch import load_file

from common import OUT, PEER, TINY_VD, TMP, VD_ARCH, sample_image

BD = f"{PEER}/ozcelikfu+brain-diffuser"
sys.path.insert(0, f"{BD}/versatile_diffusion")
import transformers  # noqa: E402
from lib.model_zoo.clip import FrozenCLIP  # noqa: E402

# no `tokenizers` wheel for transformers 4.19 on Python 3.11: the processor takes the slow tokenizer (images only here)
transformers.CLIPProcessor.tokenizer_class = "CLIPTokenizer"
from lib.model_zoo.vd import VD  # noqa: E402



def clip_folder(processor_dir: str, dest: str) -> str:
    """A transformers-4.19 CLIPModel folder holding the tiny VD's text and image encoders."""
    os.makedirs(dest, exist_ok=True)
    text_cfg = json.load(open(f"{TINY_VD}/text_encoder/config.json"))
    vision_cfg = json.load(open(f"{TINY_VD}/image_encoder/config.json"))
    config = {
        "model_type": "clip", "architectures": ["CLIPModel"], "projection_dim": vision_cfg["projection_dim"],
        "text_config_dict": {k: v for k, v in text_cfg.items() if not k.startswith("_")},
        "vision_config_dict": {k: v for k, v in vision_cfg.items() if not k.startswith("_")},
        "logit_scale_init_value": 2.6592,
    }
    json.dump(config, open(f"{dest}/config.json", "w"))
    state = {}
    for key, value in load_file(f"{TINY_VD}/text_encoder/model.safetensors").items():
        state[key] = value
    for key, value in load_file(f"{TINY_VD}/image_encoder/model.safetensors").items():
        state[key] = value
    state["logit_scale"] = torch.tensor(2.6592)
    torch.save(state, f"{dest}/pytorch_model.bin")
    for name in os.listdir(f"{TINY_VD}/tokenizer"):
        os.system(f"cp {TINY_VD}/tokenizer/{name} {dest}/")
    # the 2022 Hub file Brain-Diffuser read had integer sizes, the form transformers 4.19 parses
    processor = json.load(open(f"{processor_dir}/preprocessor_config.json"))
    processor["size"] = processor["size"]["shortest_edge"]
    processor["crop_size"] = processor["crop_size"]["height"]
    processor["feature_extractor_type"] = "CLIPFeatureExtractor"
    json.dump(processor, open(f"{dest}/preprocessor_config.json", "w"))
    return dest


def frozen_clip(processor_dir: str, name: str) -> FrozenCLIP:
    folder = clip_folder(processor_dir, f"{TMP}/{name}")
    clip = FrozenCLIP(version=folder)
    missing = [k for k in torch.load(f"{folder}/pytorch_model.bin") if k not in clip.model.state_dict()]
    assert not missing, missing
    return clip


def bd_stimulus_transform(image_uint8: np.ndarray) -> torch.Tensor:
    """clipvision_extract_features.py, batch_generator_external_images.__getitem__."""
    img = Image.fromarray(image_uint8)
    img = T.functional.resize(img, (512, 512))
    img = T.functional.to_tensor(img).float()
    img = img * 2 - 1
    return img


def main():
    results = {}
    for size_name, processor_dir in (("tiny", f"{TINY_VD}/image_feature_extractor"), ("real", f"{VD_ARCH}/image_feature_extractor")):
        clip = frozen_clip(processor_dir, size_name)
        vd = types.SimpleNamespace(clip=clip)  # VD.clip_encode_vision only touches self.clip
        # the unconditional image of versatilediffusion_reconstruct_images.py
        dummy = torch.zeros((1, 3, 224, 224))
        vision = [vi for vi in np.transpose(((dummy + 1) / 2).numpy(), (0, 2, 3, 1))]  # as VD.clip_encode_vision
        uncond_pixels = clip.processor(images=vision, return_tensors="pt")["pixel_values"]
        # a stimulus through clipvision_extract_features.py
        stim = sample_image(0, 425)
        cin = bd_stimulus_transform(stim).unsqueeze(0)
        vision = [vi for vi in np.transpose(((cin + 1) / 2).numpy(), (0, 2, 3, 1))]
        stim_pixels = clip.processor(images=vision, return_tensors="pt")["pixel_values"]
        if size_name == "tiny":  # the tiny encoder takes the tiny processor's 64-px input
            results["tiny_uncond_tokens"] = VD.clip_encode_vision(vd, dummy)[0].numpy()
            results["tiny_stimulus_tokens"] = VD.clip_encode_vision(vd, cin)[0].numpy()
        results[f"{size_name}_uncond_pixels"] = uncond_pixels[0].numpy()
        results[f"{size_name}_stimulus_pixels"] = stim_pixels[0].numpy()
        print(size_name, "uncond pixel (channel means):", uncond_pixels[0].mean((1, 2)).numpy())
    np.savez_compressed(f"{OUT}/brain_diffuser_clip_image.npz", **results,
                        transformers_version=np.array(transformers.__version__),
                        torch_version=np.array(torch.__version__))
    print({k: v.shape for k, v in results.items()})


if __name__ == "__main__":
    main()
