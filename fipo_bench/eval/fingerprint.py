"""Content fingerprints of model directories, so an eval is keyed by what was evaluated.

A path alone is not an identity: a training run overwrites `ckpt/latest`, a user rebuilds the
tiny model in place. Hashing 60 GB of weights on every eval is too slow, so weight files
contribute their name, size and a hash of three 1 MiB windows (start, middle, end); config and
tokenizer files are hashed whole. mtime is left out so a copied checkpoint keeps its identity.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_WINDOW_BYTES = 1 << 20
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_WHOLE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
)


def _hash_windows(path: Path, size: int, digest: hashlib._Hash) -> None:
    offsets = sorted({0, max(0, size // 2 - _WINDOW_BYTES // 2), max(0, size - _WINDOW_BYTES)})
    with path.open("rb") as fh:
        for offset in offsets:
            fh.seek(offset)
            digest.update(fh.read(_WINDOW_BYTES))


def model_dir_fingerprint(model_dir: Path) -> str:
    """sha256 (hex, 16 chars) over the model's config, tokenizer and sampled weight bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
        if path.name in _WHOLE_FILES:
            digest.update(f"{path.name}\0".encode())
            digest.update(path.read_bytes())
        elif path.suffix in _WEIGHT_SUFFIXES:
            size = path.stat().st_size
            digest.update(f"{path.name}\0{size}\0".encode())
            _hash_windows(path, size, digest)
    return digest.hexdigest()[:16]
