"""The embedded tiny base model: char tokenizer, Qwen2 shape, warm-up on the synthetic task.

    from fipo_bench.models import BuildSettings, build_tiny_model
    result = build_tiny_model("tiny-model", BuildSettings(seed=0))  # CLI: model build-tiny
    result.info["test_accuracy"]  # sampled accuracy on the synthetic test split

Heavy imports (torch, transformers) happen inside the functions that need them.
"""

from fipo_bench.models.build import BuildResult, BuildSettings, build_tiny_model, read_build_info
from fipo_bench.models.config import TinyModelConfig
from fipo_bench.models.tokenizer import build_char_tokenizer, save_char_tokenizer
from fipo_bench.models.warmup import WarmupConfig, warmup

__all__ = [
    "BuildResult",
    "BuildSettings",
    "TinyModelConfig",
    "WarmupConfig",
    "build_char_tokenizer",
    "build_tiny_model",
    "read_build_info",
    "save_char_tokenizer",
    "warmup",
]
