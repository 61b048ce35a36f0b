"""The img2img schedules of Brain-Diffuser and MindDiffuser, run with their own DDIM samplers and a shared stub denoiser.

* Brain-Diffuser (ozcelikfu/brain-diffuser 31d52c0): scripts/versatilediffusion_reconstruct_images.py calls
  DDIMSampler_VD.make_schedule(50), stochastic_encode(z, t_enc=int(0.75*50)) and decode_dc(z_enc, ..., t_start=t_enc,
  unconditional_guidance_scale=7.5, mixed_ratio=1-0.4) (versatile_diffusion/lib/model_zoo/ddim_vd.py).
* MindDiffuser (ReedOnePeck/MindDiffuser c9773ac): Image reconstruction/Reconstruction.py calls
  DDIMSampler.make_schedule(50), stochastic_encode(z, 37) and decode(z_enc, c, 35, unconditional_guidance_scale=5.0,
  unconditional_conditioning=uc), from CompVis/stable-diffusion 21f890f (ldm/models/diffusion/ddim.py).

The stub denoiser (the same function is the project's test UNet) is

    eps(x, t, image, text) = tanh(0.3 x + t / 1000) + 0.05 (0.6 mean(image) + 0.4 mean(text))   (dual-guided)
    eps(x, t, c)           = tanh(0.3 x + t / 1000) + 0.05 mean(c)                                (SD)

with per-sample means over tokens and channels. It records every timestep it is called with.
"""
import importlib
import sys
import types

import numpy as np
import torch

from common import OUT, PEER, schedule_inputs

BD_ZOO = f"{PEER}/ozcelikfu+brain-diffuser/versatile_diffusion/lib/model_zoo"
SD_REPO = f"{PEER}/CompVis+stable-diffusion"


def package(name: str, path: str) -> None:
    """A package object over ``path`` without running its __init__ (Brain-Diffuser's imports its whole model zoo)."""
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module


package("bdzoo", BD_ZOO)
ddim_vd = importlib.import_module("bdzoo.ddim_vd")
bd_ddim = importlib.import_module("bdzoo.ddim")
bd_utils = importlib.import_module("bdzoo.diffusion_utils")
sys.path.insert(0, SD_REPO)
from ldm.models.diffusion import ddim as ldm_ddim  # noqa: E402


def stay_on_cpu(self, name, attr):
    """Both samplers' register_buffer moves tensors to CUDA; this machine has none (nothing else changes)."""
    setattr(self, name, attr)


bd_ddim.DDIMSampler.register_buffer = stay_on_cpu
ldm_ddim.DDIMSampler.register_buffer = stay_on_cpu


def context_mean(c: torch.Tensor) -> torch.Tensor:
    return c.float().mean(dim=tuple(range(1, c.ndim))).view(-1, 1, 1, 1)


class StubModel:
    """What the samplers read of LatentDiffusion / VD: the DDPM schedule (register_schedule's) and apply_model(_dc)."""

    def __init__(self):
        betas = bd_utils.make_beta_schedule("linear", 1000, linear_start=0.00085, linear_end=0.012)
        alphas_cumprod = np.cumprod(1.0 - betas, axis=0)
        to_torch = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        self.num_timesteps = 1000
        self.betas = to_torch(betas)
        self.alphas_cumprod = to_torch(alphas_cumprod)
        self.alphas_cumprod_prev = to_torch(np.append(1.0, alphas_cumprod[:-1]))
        self.device = torch.device("cpu")
        self.model = types.SimpleNamespace(diffusion_model=types.SimpleNamespace(device=torch.device("cpu")))
        self.calls = []

    def apply_model_dc(self, x, t, first_c, second_c, xtype, first_ctype, second_ctype, mixed_ratio):
        self.calls.append(int(t[0]))
        assert first_ctype == "vision" and second_ctype == "prompt"
        # mixed_ratio weights the first (image) context in VD
        mix = mixed_ratio * context_mean(first_c) + (1 - mixed_ratio) * context_mean(second_c)
        return torch.tanh(0.3 * x + t.view(-1, 1, 1, 1) / 1000) + 0.05 * mix

    def apply_model(self, x, t, c):
        self.calls.append(int(t[0]))
        return torch.tanh(0.3 * x + t.view(-1, 1, 1, 1) / 1000) + 0.05 * context_mean(c)


def shared_inputs():
    """The shared latent, noise and contexts (tests/authors_inputs.py) as tensors."""
    return {name: torch.from_numpy(value) for name, value in schedule_inputs().items()}


def brain_diffuser(steps: int, strength: float = 0.75, scale: float = 7.5, mixing: float = 0.4):
    inputs = shared_inputs()
    model = StubModel()
    sampler = ddim_vd.DDIMSampler_VD(model)
    sampler.make_schedule(ddim_num_steps=steps, ddim_eta=0, verbose=False)
    t_enc = int(strength * steps)
    z_enc = sampler.stochastic_encode(inputs["latent"], torch.tensor([t_enc]), noise=inputs["noise"])
    z = sampler.decode_dc(
        x_latent=z_enc,
        first_conditioning=[inputs["uncond_image"], inputs["image"]],
        second_conditioning=[inputs["uncond_text"], inputs["text"]],
        t_start=t_enc, unconditional_guidance_scale=scale,
        xtype="image", first_ctype="vision", second_ctype="prompt", mixed_ratio=(1 - mixing),
    )
    return {
        "ddim_timesteps": sampler.ddim_timesteps.tolist(),
        "noised_at": int(sampler.ddim_timesteps[t_enc]),
        "denoised_at": model.calls[::1],
        "z_enc": z_enc.numpy(), "z": z.numpy(),
    }


def minddiffuser(steps: int = 50, encode_index: int = 37, decode_steps: int = 35, scale: float = 5.0):
    inputs = shared_inputs()
    model = StubModel()
    sampler = ldm_ddim.DDIMSampler(model)
    sampler.make_schedule(ddim_num_steps=steps, ddim_eta=0.0, verbose=False)
    z_enc = sampler.stochastic_encode(inputs["latent"], torch.tensor([encode_index] * 1), noise=inputs["noise"])
    z = sampler.decode(z_enc, inputs["text"], decode_steps, unconditional_guidance_scale=scale,
                       unconditional_conditioning=inputs["uncond_text"])
    return {
        "ddim_timesteps": sampler.ddim_timesteps.tolist(),
        "noised_at": int(sampler.ddim_timesteps[encode_index]),
        "denoised_at": model.calls,
        "z_enc": z_enc.numpy(), "z": z.numpy(),
    }


def main():
    results = {}
    for steps in (50, 10):
        out = brain_diffuser(steps)
        print(f"Brain-Diffuser {steps} steps: noise at t={out['noised_at']}, denoise {len(out['denoised_at'])} steps "
              f"from t={out['denoised_at'][0]} to {out['denoised_at'][-1]}")
        for key, value in out.items():
            results[f"brain_diffuser_{steps}_{key}"] = np.asarray(value)
    out = minddiffuser()
    print(f"MindDiffuser 50 steps: noise at t={out['noised_at']}, denoise {len(out['denoised_at'])} steps "
          f"from t={out['denoised_at'][0]} to {out['denoised_at'][-1]}")
    for key, value in out.items():
        results[f"minddiffuser_50_{key}"] = np.asarray(value)
    np.savez_compressed(f"{OUT}/ddim_schedules.npz", **results, torch_version=np.array(torch.__version__))


if __name__ == "__main__":
    main()
