"""The tiny presets: the embedded char-level model on the synthetic task, one 2-core CPU.

The three differ only by their algorithms' conventions (loss mode, clip-high, aggregation,
dynamic sampling, overlong shaping), so a comparison between them is fair. Every value here is
[ours]: sized for the tiny model, measured with benchmarks/train_step.py.
"""

from __future__ import annotations

from fipo_bench.config.presets import Table

_TINY_DAPO: Table = {
    "loss.mode": ("dapo", "DAPO"),
    "loss.clip_low": (0.2, "DAPO clip-higher [0.2, 0.28]"),
    "loss.clip_high": (0.28, "DAPO clip-higher [0.2, 0.28]"),
    "loss.dual_clip_c": (10.0, "the paper's dual clip"),
    "loss.agg": ("token-mean", "DAPO token-mean"),
    "rollout.data": ("synthetic", "the embedded arithmetic task (train split)"),
    "rollout.prompt_template": ("raw", "the template the tiny model was warmed up on"),
    # Measured from the default build (levels 2-3), 12 steps, held-out 100 test problems x 4:
    # lr 1e-4 in 4 mini-batch updates per step took avg@4 36.7% -> 59.3 (GRPO) / 58.8 (DAPO) /
    # 64.0 (FIPO); 2 updates at lr 1e-4 gained ~18 points, lr 2e-4 less, lr 2e-5 nothing in 12
    # steps; lr 4e-4 destroys the skill (docs/notes/embed.md).
    "rollout.prompts_per_step": (16, "[ours] measured on the tiny model"),
    "rollout.samples_per_prompt": (8, "[ours]"),
    "rollout.max_prompt_tokens": (64, "[ours] synthetic prompts are < 40 chars"),
    "rollout.max_response_tokens": (96, "[ours] traces are ~20-70 tokens"),
    "rollout.dynamic_sampling": (True, "DAPO dynamic sampling"),
    "rollout.max_gen_batches": (3, "[ours] bounds CPU time per step"),
    # A 2-core CPU cannot afford verl's stop-the-run on a hard step: train on what was kept.
    "rollout.on_exhausted": ("train_on_kept", "[ours] a short step rather than a stopped run"),
    "rewards.overlong_buffer": (16, "[ours] DAPO shaping scaled to 96 tokens"),
    "rewards.overlong_penalty": (1.0, "DAPO"),
    "update.mini_batch_prompts": (4, "[ours] 4 updates per step"),
    "update.micro_batch_seqs": (16, "[ours]"),
    "optimiser.lr": (1e-4, "[ours] measured (see above)"),
    "optimiser.warmup_steps": (2, "[ours]"),
    "optimiser.grad_clip": (1.0, "[ours]"),
    "run.save_every": (10, "[ours]"),
    "run.log_rollouts_per_step": (4, "[ours]"),
    "run.dtype": ("float32", "[ours] CPU"),
}

_TINY_FIPO: Table = {
    **_TINY_DAPO,
    "loss.mode": ("fipo", "FIPO"),
    # ~40-token answers (a derivation line is ~10 tokens): a half-life of 16 lets a token feel
    # the next two lines. Measured (12 steps, settings above): half-life 16 gave mean |f - 1|
    # 0.036 and 6.0% of tokens at a clip bound, half-life 8 gave 0.029 and 4.0%.
    "loss.half_life": (16.0, "[ours] scaled to ~40-token responses"),
    "loss.influence_low": (0.8, "the paper's small-model band [0.8, 1.2] (Table 3)"),
    "loss.influence_high": (1.2, "the paper's small-model band [0.8, 1.2] (Table 3)"),
    "loss.safety_threshold": (10.0, "the paper's 32B value (Table 2)"),
}

_TINY_GRPO: Table = {
    **_TINY_DAPO,
    "loss.mode": ("grpo", "GRPO"),
    "loss.clip_high": (0.2, "GRPO symmetric clip"),
    "loss.agg": ("seq-mean-token-mean", "GRPO per-response token mean"),
    "loss.kl_coef": (0.0, "[ours] no reference model on the CPU: same compute as DAPO/FIPO"),
    "rewards.overlong_buffer": (0, "GRPO: no overlong shaping"),
    "rollout.dynamic_sampling": (False, "GRPO: no group filtering"),
    "rollout.max_gen_batches": (1, "GRPO: one generation round"),
}

TINY_PRESETS: dict[str, tuple[str, Table]] = {
    "tiny-grpo": ("GRPO on the embedded tiny model, 2-core CPU", _TINY_GRPO),
    "tiny-dapo": ("DAPO on the embedded tiny model, 2-core CPU", _TINY_DAPO),
    "tiny-fipo": ("FIPO on the embedded tiny model, 2-core CPU (tau 16)", _TINY_FIPO),
}
