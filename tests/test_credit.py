"""Token-level credit between two checkpoints.

The model pair: the embedded tiny model (conftest's `tiny_model_dir`) as the reference, and a
copy of it whose weights are perturbed with seeded noise and saved as the "trained" checkpoint
(simpler than driving the trainer, and it moves every token's log-prob). The evaluator stores
real samples of the checkpoint; credit is then computed by `fipo-bench credit` / `run_credit`
and checked against an independent recomputation.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from fipo_bench.algos import LossConfig, fipo_token_credit
from fipo_bench.algos.future_kl import future_kl
from fipo_bench.analysis.batching import plan_batches, plan_chunks
from fipo_bench.analysis.credit import plan_credit, run_credit
from fipo_bench.analysis.pair_scoring import Trajectory, score_pair
from fipo_bench.analysis.settings import CreditSettings
from fipo_bench.cli import main
from fipo_bench.errors import ConfigError, ModelError, StoreError
from fipo_bench.store import Store
from fipo_bench.store.analysis_queries import TOKEN_COLUMNS, token_columns

N_SAMPLES = 3
# A low safety threshold and a lower bound under 1 make the safety rule and both clip bounds
# visible on a small perturbation (paper 7B bounds: [0.8, 1.2]).
SETTINGS = {"influence_low": 0.8, "influence_high": 1.2, "safety_threshold": 1.02}


def perturbed_copy(base: Path, out: Path, *, scale: float = 0.03, seed: int = 1) -> Path:
    """The 'trained' checkpoint: base weights + seeded Gaussian noise, tokenizer copied."""
    from transformers import AutoModelForCausalLM

    shutil.copytree(base, out)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def pair(request, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pair")
    base = Path(request.getfixturevalue("tiny_model_dir"))
    return base, perturbed_copy(base, root / "ckpt")


PROBLEMS = {f"p{i}": (f"{i} + {i + 2} =", str(2 * i + 2)) for i in range(3)}


def _toy_dataset(path: Path) -> Path:
    rows = [{"id": pid, "problem": text, "answer": ans} for pid, (text, ans) in PROBLEMS.items()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _mark_first_sample_correct(store: Store, eval_id: str) -> None:
    """A random model never answers right, so no group would carry advantage signal: rewrite
    the stored samples (through the store's own API, tokens kept) with sample 0 correct."""
    samples = store.eval_samples(eval_id)
    tokens = token_columns(store, samples["sample_id"].to_pylist(), TOKEN_COLUMNS)
    correct = pa.array([idx == 0 for idx in samples["sample_idx"].to_pylist()], pa.bool_())
    samples = samples.set_column(samples.schema.get_field_index("correct"), "correct", correct)
    store.write_samples(samples, tokens)


@pytest.fixture(scope="module")
def evaluated(pair, tmp_path_factory):
    """(db, eval_id, base, ckpt): the checkpoint's eval, stored by the real evaluator."""
    from fipo_bench.eval import EvalSettings, plan_eval, run_eval

    torch.set_num_threads(1)
    base, ckpt = pair
    root = tmp_path_factory.mktemp("eval")
    db = root / "credit.duckdb"
    settings = EvalSettings(
        dataset=str(_toy_dataset(root / "toy.jsonl")), n=N_SAMPLES, max_tokens=40,
        temperature=1.0, top_p=1.0, engine="hf", prompt="raw",
    )  # fmt: skip
    job = plan_eval(settings, [str(ckpt)], db)
    run_eval(job)
    eval_id = job.models[0].eval_id
    _mark_first_sample_correct(Store(db), eval_id)
    return db, eval_id, base, ckpt


def _full_forward(model, ids: list[int], n_prompt: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-prob and entropy of each response token from one unchunked, unpadded forward."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].double()
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp[n_prompt - 1 :].numpy(), entropy[n_prompt - 1 :].numpy()


def _grpo_advantages(samples: pd.DataFrame) -> pd.Series:
    """(R - mean) / (std + 1e-6) within each problem, R = +1 right / -1 wrong (pandas)."""
    reward = np.where(samples["correct"].fillna(False), 1.0, -1.0)
    grouped = pd.Series(reward, index=samples.index).groupby(samples["problem_id"])
    return (reward - grouped.transform("mean")) / (grouped.transform("std", ddof=1) + 1e-6)


def _credited(db: Path, eval_id: str, ref: Path, **kwargs):
    loss = LossConfig(mode="fipo", **{**SETTINGS, **kwargs})
    plan = plan_credit(db, eval_id, CreditSettings(ref_model=str(ref), loss=loss))
    return plan, run_credit(plan)


@pytest.mark.slow  # an eval run and two model loads
def test_stored_credit_equals_direct_recomputation_from_stored_logprobs(evaluated):
    """ref_logp/entropy equal an unchunked forward; delta, future_kl and the influence weight
    equal `algos` applied to the stored log-probs with each sample's GRPO group advantage."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    db, eval_id, base, ckpt = evaluated
    _, result = _credited(db, eval_id, base)
    assert result.scored_samples == result.num_samples == 3 * N_SAMPLES
    store = Store(db, read_only=True)
    samples = store.eval_samples(eval_id).to_pandas()
    samples["advantage"] = _grpo_advantages(samples)
    assert (samples["advantage"] < 0).any() and (samples["advantage"] > 0).any()
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    policy = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    ref = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    config = LossConfig(mode="fipo", **SETTINGS, half_life=32.0, dual_clip_c=10.0)
    moved = safety_hits = 0
    for row in samples.itertuples():
        tok = store.trajectory(row.sample_id).to_pandas()
        assert tok["ref_logp"].notna().all() and len(tok) == row.n_tokens
        prompt = tokenizer(PROBLEMS[row.problem_id][0] + "\n")["input_ids"]  # the raw template
        ids = list(prompt) + tok["token_id"].tolist()
        logp, entropy = _full_forward(policy, ids, len(prompt))
        ref_logp, _ = _full_forward(ref, ids, len(prompt))
        np.testing.assert_allclose(tok["ref_logp"], ref_logp, atol=2e-5)
        np.testing.assert_allclose(tok["entropy"], entropy, atol=2e-5)
        np.testing.assert_allclose(tok["delta"], np.clip(logp - ref_logp, -20, 20), atol=2e-5)
        # The same numbers from the stored engine log-probs (the hf engine scores in float32).
        stored = fipo_token_credit(
            torch.tensor(tok["logp"].to_numpy())[None],
            torch.tensor(tok["ref_logp"].to_numpy())[None],
            torch.tensor([row.advantage], dtype=torch.float32),
            torch.ones(1, len(tok), dtype=torch.bool),
            config,
        )
        np.testing.assert_allclose(tok["delta"], stored.delta[0], atol=1e-4)
        np.testing.assert_allclose(tok["future_kl"], stored.future_kl[0], atol=1e-3)
        np.testing.assert_allclose(tok["influence_weight"], stored.weight[0], atol=1e-3)
        # And future_kl is exactly algos.future_kl of the stored delta (float32 rounding).
        exact = future_kl(torch.tensor(tok["delta"].to_numpy())[None], stored.participates, 32.0)
        np.testing.assert_allclose(tok["future_kl"], exact[0], rtol=1e-5, atol=1e-6)
        moved += int((np.abs(tok["delta"]) > 1e-3).sum())
        unsafe = (row.advantage < 0) & (np.exp(tok["delta"]) > SETTINGS["safety_threshold"])
        safety_hits += int(unsafe.sum())
        assert (tok.loc[unsafe, "influence_weight"] <= 1.0 + 1e-6).all()
    assert moved > 0 and safety_hits > 0  # the check is not vacuous


@pytest.mark.slow  # an eval run and two model loads
def test_rerun_skips_stored_samples_and_new_settings_recompute_everything(evaluated):
    """Same settings: nothing is rescored. Another half-life: every sample's stored credit is
    cleared and recomputed, and the record says which settings the stored numbers have."""
    db, eval_id, base, _ = evaluated
    _credited(db, eval_id, base)
    _, again = _credited(db, eval_id, base)
    assert (again.scored_samples, again.reused_samples) == (0, 3 * N_SAMPLES)
    # As after a kill between two chunks: two samples without credit are the only ones redone.
    lost = Store(db).eval_samples(eval_id)["sample_id"].to_pylist()[:2]
    keys = token_columns(Store(db), lost, [])  # sample_id, pos
    Store(db).update_token_credit(keys.append_column("ref_logp", pa.nulls(len(keys), pa.float32())))
    _, resumed = _credited(db, eval_id, base)
    assert (resumed.scored_samples, resumed.reused_samples) == (2, 3 * N_SAMPLES - 2)
    store = Store(db, read_only=True)
    sid = store.eval_samples(eval_id)["sample_id"][0].as_py()
    before = store.trajectory(sid).to_pandas()
    _, other = _credited(db, eval_id, base, half_life=4.0)
    assert other.cleared_samples == other.scored_samples == 3 * N_SAMPLES
    after = store.trajectory(sid).to_pandas()
    np.testing.assert_allclose(after["delta"], before["delta"], atol=1e-6)
    participates = torch.tensor(np.exp(after["delta"].to_numpy()) <= 10.0)[None]
    expected = future_kl(torch.tensor(after["delta"].to_numpy())[None], participates, 4.0)[0]
    np.testing.assert_allclose(after["future_kl"], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(after["future_kl"], before["future_kl"])
    record = store.get_analysis(eval_id, "credit")["settings"]
    assert record["half_life"] == 4.0 and record["ref_model"].startswith(str(base.resolve()))


@pytest.mark.slow  # an eval run and two model loads
def test_batched_padded_scoring_equals_one_sequence_at_a_time(pair):
    """Grouping trajectories into padded batches changes no stored number."""
    from transformers import AutoModelForCausalLM

    base, ckpt = pair
    policy = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    ref = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    gen = np.random.default_rng(0)
    batch = [
        Trajectory(i, tuple(gen.integers(3, 90, 5 + i)), tuple(gen.integers(3, 90, 30 - 7 * i)), a)
        for i, a in enumerate((1.0, -1.0, 0.0))
    ]
    config = LossConfig(mode="fipo", influence_low=0.8, safety_threshold=1.02)
    together = score_pair(policy, ref, batch, config, pad_id=2, chunk_tokens=7)
    for traj, got in zip(batch, together, strict=True):
        (alone,) = score_pair(policy, ref, [traj], config, pad_id=2)
        for name in ("logp", "ref_logp", "delta", "future_kl", "influence_weight", "entropy"):
            np.testing.assert_allclose(getattr(got, name), getattr(alone, name), atol=2e-5)


@pytest.mark.parametrize(
    ("lengths", "budget"), [([5, 300, 7, 7, 40, 1, 64], 64), ([20000, 3, 4], 4096), ([], 8)]
)
def test_plan_batches_bounds_padded_tokens_and_keeps_every_sequence(lengths, budget):
    """Each batch holds len * max_len <= budget tokens unless it is one long sequence alone."""
    groups = plan_batches(lengths, budget)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        assert len(group) == 1 or len(group) * max(lengths[i] for i in group) <= budget
    chunks = plan_chunks(lengths, budget)
    assert [i for c in chunks for i in c] == list(range(len(lengths)))
    assert all(len(c) == 1 or sum(lengths[i] for i in c) <= budget for c in chunks)


def _swapped_vocab_copy(base: Path, out: Path) -> Path:
    """The base model with a tokenizer that maps 'a' and 'b' to each other's ids."""
    shutil.copytree(base, out)
    tok = json.loads((out / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    vocab["a"], vocab["b"] = vocab["b"], vocab["a"]
    (out / "tokenizer.json").write_text(json.dumps(tok))
    return out


@pytest.mark.slow  # an eval run and two model loads
def test_reference_with_another_tokenizer_is_refused_before_any_write(evaluated, tmp_path):
    db, eval_id, base, _ = evaluated
    other = _swapped_vocab_copy(base, tmp_path / "other")
    before = Store(db, read_only=True).table_counts()
    with pytest.raises(ModelError, match=r"--ref .*tokenizer differs"):
        plan_credit(db, eval_id, CreditSettings(ref_model=str(other)))
    assert Store(db, read_only=True).table_counts() == before


@pytest.mark.slow  # needs the stored eval
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--set", "loss.half_life=0"], "loss.half_life=0 is invalid"),
        (["--set", "loss.influence_low=1.3"], "influence_low=1.3 must be <= influence_high=1.2"),
        (["--set", "loss.dual_clip_c=1"], "loss.dual_clip_c=1 is invalid"),
        (["--set", "optimiser.lr=1e-5"], "unknown setting 'optimiser.lr'"),
        (["--preset", "tiny-fipo", "--run", "r"], "--preset tiny-fipo and --run r"),
        (["--run", "no-such-run"], "--run 'no-such-run' is not a training run"),
        (["--lexicon", "/no/such/file"], "--lexicon /no/such/file is not a file"),
        (["--eval", "no-such-eval"], "eval 'no-such-eval' is not in"),
        (["--ref", "/no/such/model"], "--ref /no/such/model does not exist"),
    ],
)
def test_bad_credit_input_exits_2_with_one_line_and_writes_nothing(
    evaluated, capsys, flags, message
):
    db, eval_id, base, _ = evaluated
    args = {"--eval": eval_id, "--ref": str(base)}
    extra = []
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag in args:
            args[flag] = value
        else:
            extra += [flag, value]
    store = Store(db, read_only=True)
    before = store.table_counts(), store.get_analysis(eval_id, "credit")
    argv = ["credit", *(x for kv in args.items() for x in kv), *extra, "--db", str(db)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert (store.table_counts(), store.get_analysis(eval_id, "credit")) == before


@pytest.mark.slow  # an eval run and two model loads
def test_credit_command_scores_then_stores_pivots(evaluated, capsys):
    """The CLI path end to end: credit stored for every token, pivots of all three kinds."""
    db, eval_id, base, _ = evaluated
    assert main(["credit", "--eval", eval_id, "--ref", str(base), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "reflection rate" in out
    store = Store(db, read_only=True)
    ids = store.eval_samples(eval_id)["sample_id"].to_pylist()
    tokens = token_columns(store, ids, ["future_kl"])
    assert tokens.num_rows > 0 and tokens["future_kl"].null_count == 0
    kinds = {k for sid in ids for k in store.pivots(sid)["kind"].to_pylist()}
    assert {"credit", "entropy"} <= kinds


def test_unknown_database_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        plan_credit(tmp_path / "none.duckdb", "x", CreditSettings(ref_model="m"))


@pytest.mark.parametrize(
    "kwargs", [{"batch_tokens": 1}, {"dtype": "float8"}, {"ref_model": ""}, {"chunk_tokens": 0}]
)
def test_out_of_range_settings_are_config_errors(kwargs):
    from fipo_bench.config import validate

    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        validate(CreditSettings, {"ref_model": "m", **kwargs})


def test_credit_identity_holds_the_loss_fields_credit_reads_and_nothing_else():
    """Changing what credit depends on (half-life) recomputes; changing what it does not
    (the PPO clip, aggregation) reuses the stored numbers."""
    base = CreditSettings(ref_model="m")
    moved = CreditSettings(ref_model="m", loss=LossConfig(mode="fipo", half_life=4.0))
    unrelated = CreditSettings(
        ref_model="m", loss=LossConfig(mode="dapo", clip_high=0.2, agg="seq-mean-token-mean")
    )
    assert base.identity() != moved.identity()
    assert base.identity() == unrelated.identity()
    assert base.loss_config().mode == "fipo" == unrelated.loss_config().mode


def test_binary_lexicon_file_is_a_one_line_error(tmp_path):
    from fipo_bench.commands.credit import read_lexicon

    path = tmp_path / "lexicon.bin"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="lexicon"):
        read_lexicon(path)
    path.write_bytes(b"wait\x00\x01\n")
    with pytest.raises(ConfigError, match="binary"):
        read_lexicon(path)


def _credit_cli(db: Path, eval_id: str, ref: Path) -> list[str]:
    import sys

    return [sys.executable, "-m", "fipo_bench", "credit", "--eval", eval_id, "--ref", str(ref),
            "--set", "loss.half_life=6", "--db", str(db)]  # fmt: skip


@pytest.mark.slow  # three credit processes
@pytest.mark.parametrize("kill_after_s", [2.0, 6.0])
def test_credit_killed_mid_run_then_rerun_equals_an_uninterrupted_run(
    evaluated, tmp_path, kill_after_s
):
    """A real SIGKILL of `fipo-bench credit` (while loading, scoring or writing: wherever it is
    at that moment), then the same command again: the stored per-token credit equals that of
    a run that was never interrupted, and no token row is duplicated."""
    import os
    import signal
    import subprocess
    import time

    db, eval_id, base, _ = evaluated
    whole, killed = tmp_path / "whole.duckdb", tmp_path / "killed.duckdb"
    shutil.copyfile(db, whole)
    shutil.copyfile(db, killed)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_credit_cli(whole, eval_id, base), env=env, check=True, capture_output=True)

    proc = subprocess.Popen(_credit_cli(killed, eval_id, base), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(kill_after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(_credit_cli(killed, eval_id, base), env=env, check=True, capture_output=True)

    columns = ["sample_id", "pos", "ref_logp", "delta", "future_kl", "influence_weight", "entropy"]
    frames = []
    for path in (whole, killed):
        store = Store(path, read_only=True)
        ids = store.eval_samples(eval_id)["sample_id"].to_pylist()
        frame = token_columns(store, ids, TOKEN_COLUMNS).to_pandas()[columns]
        frames.append(frame.sort_values(["sample_id", "pos"]).reset_index(drop=True))
        assert store.get_analysis(eval_id, "credit")["settings"]["half_life"] == 6.0
    assert not frames[1].duplicated(["sample_id", "pos"]).any()
    assert frames[1]["future_kl"].notna().all()
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=False, rtol=1e-6, atol=1e-7)
