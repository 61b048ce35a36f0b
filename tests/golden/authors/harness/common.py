"""Paths of the harness and the shared inputs (tests/authors_inputs.py, the same module the tests import)."""
import os
import sys

PROJECT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
PEER = os.environ.get("PEER_SRC", "/work/peer/src")  # the authors' repositories, checked out at the commits named
OUT = os.path.join(PROJECT, "tests", "golden", "authors")
TINY_VD = f"{PROJECT}/resources/models/tiny-versatile-diffusion"
TINY_SD = f"{PROJECT}/resources/models/tiny-stable-diffusion"
TINY_CLIP = f"{PROJECT}/resources/models/tiny-clip-vit-base-patch32"
VD_ARCH = f"{PROJECT}/resources/models/versatile-diffusion-architecture"
TMP = os.environ.get("HARNESS_TMP", "/tmp/authors-harness")

sys.path.insert(0, os.path.join(PROJECT, "tests"))
from authors_inputs import CAPTIONS, DDIM_TEXT_TOKENS, decoder_data, loss_features, schedule_inputs, sample_image  # noqa: E402,F401
