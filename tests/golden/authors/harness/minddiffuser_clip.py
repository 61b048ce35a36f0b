"""MindDiffuser's CLIP ViT-B/32 features and stage-2 loss, run with its own code (ReedOnePeck/MindDiffuser c9773ac).

* features: packages/feature_extraction_detach.py (get_all_feature_maps, the forward hooks that name modules
  `Linear-2`, ..., `VisionTransformer-1`) on OpenAI's CLIP VisionTransformer (openai/CLIP d05afc4, clip/model.py),
  which MindDiffuser loads with clip.load('ViT-B/32').visual;
* decoding targets: `Feature extractor/Structural_feature_extraction.py` CLIP_extraction's transform
  (Resize((224, 224)) on float tensors, ImageNet Normalize);
* stage 2: `Image reconstruction/Reconstruction.py` CLIP_of_generated's transform (Resize((224, 224), BICUBIC,
  antialias=False), ImageNet Normalize) and MSE_CLIP_mask, executed from the file's source (the file as a whole does
  not run: a syntax error in its argparse lines and names used before definition).

Shared weights: the project's tiny CLIP ViT-B/32 stand-in (Hugging Face layout), converted to OpenAI's module
layout below. The tiny model's input side (64) takes the place of 224; torchvision 0.12 (their environment) resized
tensors without antialiasing, so the target transform says antialias=False explicitly.
"""
import ast
import json
import sys
import types

import numpy as np
import torch
import torchvision
from safetensors.torch import load_file
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from common import OUT, PEER, TINY_CLIP, loss_features, sample_image

MD = f"{PEER}/ReedOnePeck+MindDiffuser"
sys.path.insert(0, f"{PEER}/openai+CLIP")
from clip.model import VisionTransformer  # noqa: E402

# packages.model_options reads a CSV from the authors' file server at import; check_model only validates names
sys.modules["packages"] = types.ModuleType("packages")
sys.modules["packages"].__path__ = [f"{MD}/packages"]
sys.modules["packages.model_options"] = types.SimpleNamespace(check_model=lambda model: None)
from packages import feature_extraction_detach as FE_detach  # noqa: E402
from packages import feature_extraction as FE  # noqa: E402

LAYERS = ["Linear-2", "Linear-4", "Linear-6", "Linear-8", "VisionTransformer-1"]  # the tiny model has 4 blocks


def openai_vision() -> VisionTransformer:
    """OpenAI's VisionTransformer with the tiny Hugging Face CLIP's weights."""
    cfg = json.load(open(f"{TINY_CLIP}/config.json"))
    hf = load_file(f"{TINY_CLIP}/model.safetensors")
    width, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    model = VisionTransformer(
        input_resolution=cfg["image_size"], patch_size=cfg["patch_size"], width=width, layers=layers,
        heads=cfg["num_attention_heads"], output_dim=cfg["projection_dim"],
    )
    v = "vision_model."
    state = {
        "class_embedding": hf[v + "embeddings.class_embedding"],
        "positional_embedding": hf[v + "embeddings.position_embedding.weight"],
        "conv1.weight": hf[v + "embeddings.patch_embedding.weight"],
        "ln_pre.weight": hf[v + "pre_layrnorm.weight"], "ln_pre.bias": hf[v + "pre_layrnorm.bias"],
        "ln_post.weight": hf[v + "post_layernorm.weight"], "ln_post.bias": hf[v + "post_layernorm.bias"],
        "proj": hf["visual_projection.weight"].T.contiguous(),
    }
    for i in range(layers):
        h, o = f"{v}encoder.layers.{i}.", f"transformer.resblocks.{i}."
        state[o + "attn.in_proj_weight"] = torch.cat([hf[h + f"self_attn.{p}_proj.weight"] for p in "qkv"])
        state[o + "attn.in_proj_bias"] = torch.cat([hf[h + f"self_attn.{p}_proj.bias"] for p in "qkv"])
        state[o + "attn.out_proj.weight"] = hf[h + "self_attn.out_proj.weight"]
        state[o + "attn.out_proj.bias"] = hf[h + "self_attn.out_proj.bias"]
        for ours, theirs in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            state[o + ours + ".weight"] = hf[h + theirs + ".weight"]
            state[o + ours + ".bias"] = hf[h + theirs + ".bias"]
    model.load_state_dict(state, strict=True)
    return model.eval()


class TensorDataset(Dataset):  # as in both scripts
    def __init__(self, data_tensor, image_transforms=None):
        self.data_tensor = data_tensor
        self.transforms = image_transforms

    def __getitem__(self, index):
        img = self.data_tensor[index]
        return self.transforms(img) if self.transforms else img

    def __len__(self):
        return self.data_tensor.size(0)


def target_features(model, stimuli: torch.Tensor, side: int) -> dict:
    """Structural_feature_extraction.py CLIP_extraction (batch 64, numpy)."""
    transform_for_CLIP = torchvision.transforms.Compose([
        transforms.Resize((side, side), antialias=False),
        transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ])
    loader = DataLoader(TensorDataset(stimuli, transform_for_CLIP), batch_size=64)
    return FE_detach.get_all_feature_maps(model, loader, layers_to_retain=LAYERS, remove_duplicates=False, numpy=True)


def reconstruction_functions(model, side: int) -> dict:
    """CLIP_of_generated and MSE_CLIP_mask from Reconstruction.py's source, with the module globals they read."""
    source = open(f"{MD}/Image reconstruction/Reconstruction.py").read().replace("'--recons_img_idx,", "'--recons_img_idx',")
    tree = ast.parse(source)
    wanted = {"CLIP_of_generated", "MSE_CLIP_mask"}
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in wanted]
    scope = {
        "torch": torch, "np": np, "torchvision": torchvision, "transforms": transforms, "Dataset": Dataset,
        "DataLoader": DataLoader, "InterpolationMode": InterpolationMode, "FE": FE, "model_CLIP": model,
        "device": torch.device("cpu"), "loss_fn": torch.nn.MSELoss(),
    }
    exec(compile(ast.Module(body=functions, type_ignores=[]), "Reconstruction.py", "exec"), scope)
    # the tiny model's input side replaces the hard-coded 224 of CLIP_of_generated's Resize
    if side != 224:
        code = scope["CLIP_of_generated"].__code__
        scope["CLIP_of_generated"].__code__ = code.replace(co_consts=tuple((side, side) if c == (224, 224) else c for c in code.co_consts))
    return scope


def main():
    model = openai_vision()
    side = model.input_resolution
    stimuli = torch.from_numpy(np.stack([sample_image(s, 96) for s in (1, 2)]).astype(np.float32) / 255).permute(0, 3, 1, 2)
    targets = target_features(model, stimuli, side)
    fns = reconstruction_functions(model, side)
    generated = torch.from_numpy(np.stack([sample_image(s, 128) for s in (3, 4)]).astype(np.float32) / 255).permute(0, 3, 1, 2)
    gen_features = fns["CLIP_of_generated"](generated_frames=generated)
    # stage 2's loss on shared random features of MindDiffuser's six layers plus the embedding
    target, generated_np, masks = loss_features()
    generated_features = {name: torch.from_numpy(value) for name, value in generated_np.items()}
    losses = {w: float(fns["MSE_CLIP_mask"](masks=masks, target=target, generated=generated_features, weight=w).sum())
              for w in (0.0, 0.5)}
    print("stage-2 loss (loss_CLIP_weight 0, 0.5):", losses)
    results = {f"target_{k}": v for k, v in targets.items()}
    results.update({f"generated_{k}": v.detach().numpy() for k, v in gen_features.items()})
    results.update({f"loss_weight_{w}": np.array(v) for w, v in losses.items()})
    np.savez_compressed(f"{OUT}/minddiffuser_clip.npz", **results, torch_version=np.array(torch.__version__),
                        torchvision_version=np.array(torchvision.__version__))
    print({k: v.shape for k, v in results.items()})


if __name__ == "__main__":
    main()
