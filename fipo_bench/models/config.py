"""Shape of the embedded tiny model: a small Qwen2 causal LM over the character vocabulary."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from fipo_bench.errors import ConfigError
from fipo_bench.models.tokenizer import EOS_TOKEN, PAD_TOKEN, VOCAB_SIZE, vocab

# vLLM's CPU attention serves only these head sizes (DESIGN.md, "Engines").
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256)


@dataclass(frozen=True)
class TinyModelConfig:
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2  # grouped-query attention, as in Qwen2
    intermediate_size: int = 384
    # Room for a real AIME prompt in the DAPO template plus generated tokens (one char = one
    # token); RoPE has no parameters, so this costs nothing.
    max_position_embeddings: int = 8192
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"tiny model {name}={getattr(self, name)} is invalid; allowed: >= 1"
                )
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"tiny model hidden_size={self.hidden_size}, num_heads={self.num_heads}, "
                f"num_kv_heads={self.num_kv_heads} do not divide; allowed: hidden_size % "
                "num_heads == 0 and num_heads % num_kv_heads == 0"
            )
        if self.head_dim not in VLLM_CPU_HEAD_SIZES:
            raise ConfigError(
                f"tiny model head size {self.head_dim} (hidden_size / num_heads) is not served "
                f"by vLLM on CPU; allowed: {', '.join(map(str, VLLM_CPU_HEAD_SIZES))}"
            )
        if self.max_position_embeddings < 4096:
            raise ConfigError(
                f"tiny model max_position_embeddings={self.max_position_embeddings} is too short "
                "for an AIME prompt plus a reply; allowed: >= 4096"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def as_dict(self) -> dict:
        return asdict(self)

    def to_qwen2_config(self):
        """The transformers Qwen2Config for this shape (tied embeddings, float32)."""
        from transformers import Qwen2Config

        ids = vocab()
        return Qwen2Config(
            vocab_size=VOCAB_SIZE,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads,
            head_dim=self.head_dim,
            max_position_embeddings=self.max_position_embeddings,
            rope_theta=self.rope_theta,
            tie_word_embeddings=True,
            use_sliding_window=False,
            bos_token_id=None,
            eos_token_id=ids[EOS_TOKEN],
            pad_token_id=ids[PAD_TOKEN],
            torch_dtype="float32",
        )
