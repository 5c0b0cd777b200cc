"""Teacher-forced log-probs and entropies, chunked along the sequence.

A 150k-token vocabulary at 8k tokens is 4.8 GB of float32 logits per sequence, so the
transformer body runs once over the whole batch and the head (lm_head -> log_softmax -> gather,
entropy) runs over `chunk_tokens` positions at a time. Under autograd each chunk is
checkpointed: only its hidden states are kept and its logits are recomputed in backward, so
neither pass ever holds more than one [B, chunk, V] float32 block.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from fipo_bench.errors import EngineError


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding, as `generate` uses them (0 at each row's first token)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.clamp_(min=0)


def _body_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The decoder stack (returns final-normed hidden states) and the output projection."""
    body = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if body is None or head is None:
        raise EngineError(
            f"score_tokens: model {type(model).__name__} has no decoder body / lm_head; "
            "allowed: a transformers causal LM (e.g. Qwen2ForCausalLM)"
        )
    return body, head


def _head_chunk(
    head: torch.nn.Module,
    hidden: torch.Tensor,
    labels: torch.Tensor,
    inv_temperature: float,
    compute_entropy: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of `labels` and the entropy of the next-token distribution for one chunk."""
    logits = head(hidden).float()
    if inv_temperature != 1.0:
        logits = logits * inv_temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if compute_entropy:
        # The loss never differentiates entropy (it is a metric), so keep it off the graph.
        with torch.no_grad():
            entropy = -(logp_all.exp() * logp_all).sum(-1)
    else:
        entropy = torch.zeros_like(logp)
    return logp, entropy.detach()


def score_tokens(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    chunk_tokens: int = 1024,
    compute_entropy: bool = True,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced log p(input_ids[:, t+1] | input_ids[:, :t+1]) and entropy, per position.

    Returns (logp, entropy), both float32 [B, L-1]; position t scores label input_ids[:, t+1].
    Padding may be on either side: positions come from the attention mask, and values at masked
    positions are meaningless (mask them with attention_mask[:, 1:]). `temperature` divides the
    logits (1.0 = the model's raw distribution, what both engines report). logp is
    differentiable; entropy is not.
    """
    if input_ids.dim() != 2 or input_ids.shape != attention_mask.shape:
        raise EngineError(
            f"score_tokens: input_ids {tuple(input_ids.shape)} and attention_mask "
            f"{tuple(attention_mask.shape)}; allowed: two [batch, length] tensors of one shape"
        )
    if input_ids.shape[1] < 2:
        raise EngineError(
            f"score_tokens: sequence length {input_ids.shape[1]}; allowed: >= 2 (nothing to score)"
        )
    if chunk_tokens < 1:
        raise EngineError(f"score_tokens: chunk_tokens={chunk_tokens}; allowed: >= 1")
    if temperature <= 0:
        raise EngineError(f"score_tokens: temperature={temperature}; allowed: > 0")

    body, head = _body_and_head(model)
    hidden = body(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,
    ).last_hidden_state
    labels = input_ids[:, 1:]
    length = labels.shape[1]
    inv_temperature = 1.0 / temperature
    use_checkpoint = torch.is_grad_enabled() and hidden.requires_grad

    logps, entropies = [], []
    for start in range(0, length, chunk_tokens):
        stop = min(start + chunk_tokens, length)
        args = (head, hidden[:, start:stop], labels[:, start:stop], inv_temperature)
        if use_checkpoint:
            logp, entropy = checkpoint(_head_chunk, *args, compute_entropy, use_reentrant=False)
        else:
            logp, entropy = _head_chunk(*args, compute_entropy)
        logps.append(logp)
        entropies.append(entropy)
    return torch.cat(logps, dim=1), torch.cat(entropies, dim=1)
