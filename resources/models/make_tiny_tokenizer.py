"""Generate the tiny CLIP BPE tokenizer of ``tiny-versatile-diffusion``.

The tokenizer has the structure of OpenAI CLIP's (what ``shi-labs/versatile-diffusion``
ships): the 256 byte-level characters, the same 256 with the end-of-word marker
``</w>``, the merged tokens, then ``<|startoftext|>`` and ``<|endoftext|>``. Its
merges are learned on the words of the synthetic scene captions (shapes,
colours, sizes, positions, textures, backgrounds and function words) by a
deterministic BPE trainer using CLIP's own normaliser and pre-tokeniser, so each
of those words is one token. Any other text still tokenizes without unknowns
through the byte-level characters.

The script also writes the vocabulary size and the special token ids into
``text_encoder/config.json`` so the embedding table matches the tokenizer.

Run from the repository root (deterministic; the outputs are committed)::

    .venv/bin/python resources/models/make_tiny_tokenizer.py
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

from transformers import CLIPTokenizer

logger = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "tiny-versatile-diffusion"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
END_OF_WORD = "</w>"
MAX_LENGTH = 77

CAPTION_WORDS = """
a an the on with in and of at to is are there one two three four five some several many
this that it its each other another above below under over near next beside behind between around against
left right top bottom center centre middle upper lower corner side part edge front back
tiny small little medium large big huge
circle circles square squares triangle triangles rectangle rectangles ellipse ellipses oval ovals
star stars diamond diamonds cross crosses ring rings hexagon hexagons pentagon pentagons
disc disk round box block triangular pyramid rhombus plus sign hoop donut
blob blobs line lines stripe stripes dot dots bar bars shape shapes object objects
red green blue yellow orange purple pink brown black white grey gray cyan magenta teal violet
beige navy dark light bright pale colour color coloured colored
striped dotted spotted checkered checked plain solid textured noisy smooth gradient wavy grid diagonal covered
shaded fading uniform flat vertical horizontal
pattern patterned rough soft sharp blurry
background backdrop sky grass water sand wall floor field scene image picture photo view
shows showing shown sits sitting lies lying placed appears
""".split()


def _word_corpus() -> list[str]:
    """Unique caption words, in a fixed order (the trainer's input)."""
    return list(dict.fromkeys(CAPTION_WORDS))


def _byte_alphabet() -> list[str]:
    """The 256 byte-level characters in CLIP's order (``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def train_merges(words: list[str]) -> list[tuple[str, str]]:
    """Learn BPE merges on ``words`` with CLIP's normaliser and pre-tokeniser.

    Classic BPE (Sennrich et al. 2016): repeatedly merge the most frequent
    adjacent pair, ties broken by the pair's text, until every word is a single
    token. Written out because the ``tokenizers`` trainer breaks ties in hash
    order, so its merge order changes from run to run.
    """
    reference = CLIPTokenizer().backend_tokenizer  # CLIP's text pipeline, empty vocabulary
    counts: Counter[str] = Counter()
    for text in words:
        normalized = reference.normalizer.normalize_str(text)
        counts.update(piece for piece, _ in reference.pre_tokenizer.pre_tokenize_str(normalized))
    splits = {word: [*word[:-1], word[-1] + END_OF_WORD] for word in counts}
    merges: list[tuple[str, str]] = []
    while True:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, symbols in splits.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += counts[word]
        if not pairs:
            return merges
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        splits = {word: _merge(symbols, best) for word, symbols in splits.items()}


def _merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """Replace each left-to-right occurrence of ``pair`` in ``symbols`` by its concatenation."""
    merged, index = [], 0
    while index < len(symbols):
        if tuple(symbols[index : index + 2]) == pair:
            merged.append(pair[0] + pair[1])
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return merged


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """CLIP-ordered vocabulary: bytes, bytes + ``</w>``, merged tokens, specials."""
    tokens = _byte_alphabet()
    tokens += [token + END_OF_WORD for token in tokens]
    tokens += [left + right for left, right in merges]
    tokens += [BOS, EOS]
    tokens = list(dict.fromkeys(tokens))
    return {token: index for index, token in enumerate(tokens)}


def write_tokenizer(model_dir: Path) -> dict[str, int]:
    """Write ``tokenizer/`` files and patch ``text_encoder/config.json``; return the vocabulary."""
    merges = train_merges(_word_corpus())
    vocab = build_vocab(merges)
    out = model_dir / "tokenizer"
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    merges_text = "#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in merges)
    (out / "merges.txt").write_text(merges_text, encoding="utf-8")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
        **special,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

    encoder_config_path = model_dir / "text_encoder" / "config.json"
    encoder_config = json.loads(encoder_config_path.read_text())
    encoder_config.update(
        vocab_size=len(vocab), bos_token_id=vocab[BOS], eos_token_id=vocab[EOS], pad_token_id=vocab[EOS]
    )
    encoder_config_path.write_text(json.dumps(encoder_config, indent=2) + "\n")
    logger.info("wrote %d tokens and %d merges to %s", len(vocab), len(merges), out)
    return vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="tiny model folder (default: %(default)s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_tokenizer(args.model_dir)


if __name__ == "__main__":
    main()
