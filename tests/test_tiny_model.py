"""The embedded tiny model: char tokenizer, HF-loadable Qwen2 checkpoint, seeded atomic builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_bench.cli import main
from fipo_bench.errors import ConfigError
from fipo_bench.models.build import (
    BUILD_INFO_FILE,
    BuildSettings,
    build_damage,
    build_tiny_model,
)
from fipo_bench.models.config import VLLM_CPU_HEAD_SIZES, TinyModelConfig
from fipo_bench.models.tokenizer import CHARACTERS, VOCAB_SIZE, build_char_tokenizer

TOKENIZER = build_char_tokenizer()
CHECKPOINT_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    BUILD_INFO_FILE,
}


def _quick(seed: int = 0, steps: int = 2) -> BuildSettings:
    return BuildSettings(seed=seed, eval_problems=0).with_steps(steps)


def _weights(directory):
    """The file's tensors read into memory: `load_file` maps the file, and a test that then
    damages it in place would fault (SIGBUS) on the next read of those tensors."""
    from safetensors.torch import load

    return load((directory / "model.safetensors").read_bytes())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=CHARACTERS, max_size=200))
def test_printable_ascii_round_trips_one_token_per_character(text):
    ids = TOKENIZER.encode(text, add_special_tokens=False)
    assert len(ids) == len(text)
    assert TOKENIZER.unk_token_id not in ids
    assert TOKENIZER.decode(ids) == text


def test_characters_outside_ascii_become_their_utf8_bytes():
    """Any text tokenizes (no error, nothing dropped): a non-ASCII character is one token per
    UTF-8 byte, an ASCII character's id is its code, and decoding restores the text."""
    ids = TOKENIZER.encode("x€y\r", add_special_tokens=False)
    assert ids == [ord("x"), *"€".encode(), ord("y"), ord("\r")]
    assert TOKENIZER.decode(ids) == "x€y\r"
    assert TOKENIZER.unk_token_id not in ids


def test_every_id_decodes_and_specials_are_distinct():
    """Ids up to the embedding size all exist, so any sampled id decodes; eos/pad/unk are set
    and distinct, there is no bos (as in Qwen2)."""
    assert len(TOKENIZER) == VOCAB_SIZE
    specials = [TOKENIZER.eos_token_id, TOKENIZER.pad_token_id, TOKENIZER.unk_token_id]
    assert sorted(specials) == list(range(256, VOCAB_SIZE))
    assert TOKENIZER.bos_token_id is None
    assert TOKENIZER.decode(list(range(128))) == "".join(map(chr, range(128)))
    assert all(TOKENIZER.decode([token_id]) for token_id in range(VOCAB_SIZE))


@pytest.fixture(scope="module")
def reloaded_tokenizer(tiny_model_quick):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_quick)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=100))
def test_reloaded_tokenizer_gives_the_same_ids(reloaded_tokenizer, text):
    """transformers loads a qwen2 checkpoint's tokenizer with its own Qwen2Tokenizer pipeline;
    the saved tokenizer must give the same ids as the one the model was trained with."""
    assert reloaded_tokenizer.encode(text) == TOKENIZER.encode(text, add_special_tokens=False)


def test_checkpoint_loads_unchanged_in_transformers(tiny_model_quick):
    """The build is a plain HF checkpoint: Auto classes load it, a fast tokenizer with
    eos/pad/unk, a Qwen2 model whose shape vLLM's CPU backend serves and whose context fits an
    AIME prompt plus a reply."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    assert {p.name for p in tiny_model_quick.iterdir()} >= CHECKPOINT_FILES
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_quick)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token) == (
        TOKENIZER.eos_token,
        TOKENIZER.pad_token,
        TOKENIZER.unk_token,
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model_quick)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    config = model.config
    assert config.head_dim in VLLM_CPU_HEAD_SIZES
    assert config.hidden_size // config.num_attention_heads == config.head_dim
    assert config.max_position_embeddings >= 4096
    assert config.vocab_size == len(tokenizer)
    assert config.eos_token_id == tokenizer.eos_token_id
    assert 0.5e6 <= sum(p.numel() for p in model.parameters()) <= 3e6
    ids = tokenizer("7 + 5\n", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape == (1, 6, VOCAB_SIZE) and torch.isfinite(logits).all()


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    """A build is a function of its seed: two short builds with seed 0 are bit-identical, a
    build with seed 1 is not."""
    first = build_tiny_model(tmp_path / "a", _quick(seed=0, steps=3)).path
    second = build_tiny_model(tmp_path / "b", _quick(seed=0, steps=3)).path
    third = build_tiny_model(tmp_path / "c", _quick(seed=1, steps=3)).path
    a, b, c = _weights(first), _weights(second), _weights(third)
    assert a.keys() == b.keys() == c.keys()
    assert all((a[name] == b[name]).all() for name in a)
    assert any((a[name] != c[name]).any() for name in a)
    info = json.loads((first / BUILD_INFO_FILE).read_text())
    assert info["settings"]["seed"] == 0 and info["settings"]["warmup"]["steps"] == 3


def test_warmup_lowers_the_loss_on_the_response(tmp_path):
    """Training moves the weights toward the traces: the loss of 15 steps ends well below its
    start (about ln(259) = 5.6 for a random model)."""
    import torch
    from transformers import Qwen2ForCausalLM

    from fipo_bench.models.warmup import WarmupConfig, warmup

    model = Qwen2ForCausalLM(TinyModelConfig().to_qwen2_config())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the build does: two threads crawl on a shared CPU
    try:
        losses = warmup(
            model, TOKENIZER, WarmupConfig(steps=15, batch_size=8, warmup_steps=5), seed=0
        )
    finally:
        torch.set_num_threads(threads)
    assert losses[0] > 4.0
    assert sum(losses[-5:]) / 5 < 0.7 * losses[0]


def test_failed_build_leaves_nothing(tmp_path):
    """A build interrupted mid-way leaves neither the output nor its staging directory."""

    def interrupt(stage, done, total, loss):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_tiny_model(tmp_path / "out", _quick(steps=5), on_progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_cli_builds_reuses_and_refuses(tmp_path, capsys):
    """build-tiny writes a checkpoint, reuses it for the same settings, and exits 2 without
    writing for a foreign non-empty directory or a build with other settings."""
    out = tmp_path / "model"
    args = ["model", "build-tiny", "--out", str(out), "--steps", "2", "--eval-problems", "0"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} >= CHECKPOINT_FILES
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()

    assert main(args) == 0
    assert "reused" in capsys.readouterr().out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp

    assert main([*args[:-4], "--steps", "3", "--eval-problems", "0"]) == 2
    assert "other settings" in capsys.readouterr().err

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["model", "build-tiny", "--out", str(foreign), "--steps", "2"]) == 2
    assert "holds no tiny-model build" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "model"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TinyModelConfig(hidden_size=96, num_heads=4), "head size 24"),
        (lambda: TinyModelConfig(max_position_embeddings=2048), "max_position_embeddings=2048"),
        (lambda: BuildSettings(seed=-1), "seed=-1"),
        (lambda: BuildSettings().with_steps(-5), "steps=-5"),
    ],
)
def test_bad_settings_name_the_value(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.slow
def test_default_build_learns_the_task_and_leaves_room_for_rl(tiny_model_dir):
    """The warmed-up default scores 15%-70% sampled accuracy on the synthetic test split (so RL
    has room), and the saved checkpoint, reloaded, reproduces that skill on problems sampled
    with another seed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fipo_bench.models.evaluate import sampled_accuracy
    from fipo_bench.tasks import synthetic

    info = json.loads((tiny_model_dir / BUILD_INFO_FILE).read_text())
    assert 0.15 <= info["test_accuracy"] <= 0.70
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    problems = synthetic.load_problems("test", n=100, seed=7)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the build does: two threads crawl on a shared CPU
    try:
        accuracy = sampled_accuracy(model, tokenizer, problems, seed=7)
    finally:
        torch.set_num_threads(threads)
    # 100 samples: 5% is far below the build's measured accuracy, far above a random model's 0.
    assert accuracy >= 0.05


@pytest.mark.slow
def test_default_build_samples_every_style_and_reasoning_decides_correctness(tiny_model_dir):
    """The base samples all three styles (each >= 10% of 200 responses at T=1, seeded) and a
    step-by-step derivation is right far more often than a direct answer, so RL has a better
    way of reasoning to find. Measured on the default build: shares direct/steps/checked
    32/46/20%, accuracy 14% / 53% / 22%; the margins below are far from those values."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fipo_bench.models.evaluate import sample_responses
    from fipo_bench.models.traces import STYLES, response_style
    from fipo_bench.tasks import synthetic
    from fipo_bench.verify import check_many

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    problems = synthetic.load_problems("test", n=200, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        responses = sample_responses(model, tokenizer, problems, seed=0, max_new_tokens=128)
    finally:
        torch.set_num_threads(threads)
    verdicts = check_many([(p.answer, r) for p, r in zip(problems, responses, strict=True)])
    by_style: dict[str, list[bool]] = {style: [] for style in (*STYLES, "other")}
    for response, verdict in zip(responses, verdicts, strict=True):
        by_style[response_style(response)].append(verdict.correct)
    shares = {style: len(v) / len(responses) for style, v in by_style.items()}
    accuracy = {style: sum(v) / max(len(v), 1) for style, v in by_style.items()}
    assert all(shares[style] >= 0.10 for style in STYLES), shares
    assert accuracy["steps"] >= accuracy["direct"] + 0.15, accuracy


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda d: (d / "model.safetensors").write_bytes(
                (d / "model.safetensors").read_bytes()[:999]
            ),
            "model.safetensors differs",
        ),
        (lambda d: (d / "model.safetensors").write_bytes(b""), "model.safetensors differs"),
        (lambda d: (d / "config.json").write_text("[1, 2, 3]"), "config.json differs"),
        (lambda d: (d / "tokenizer.json").unlink(), "tokenizer.json is missing"),
    ],
)
def test_a_damaged_build_is_rebuilt_not_reused(tmp_path, capsys, damage, reason):
    """build-tiny checks every file against the checksums its record holds: a truncated,
    emptied, rewritten or missing file makes it rebuild (saying what was wrong), and the rebuilt
    weights are the ones an undamaged build of the same settings has."""
    out = tmp_path / "model"
    args = ["model", "build-tiny", "--out", str(out), "--steps", "2", "--eval-problems", "0"]
    assert main(args) == 0
    intact = _weights(out)
    capsys.readouterr()
    damage(out)
    info = json.loads((out / BUILD_INFO_FILE).read_text())
    assert reason in build_damage(out, info)

    assert main(args) == 0
    said = capsys.readouterr().out
    assert "rebuilt" in said and reason in said
    assert build_damage(out, json.loads((out / BUILD_INFO_FILE).read_text())) is None
    rebuilt = _weights(out)
    assert all((rebuilt[name] == intact[name]).all() for name in intact)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging left


def test_a_build_record_without_checksums_is_not_trusted(tmp_path):
    """A directory whose fipo_build.json lists no checksums (hand-made, or damaged) is
    rebuilt rather than reused on the record's word."""
    out = tmp_path / "model"
    build_tiny_model(out, _quick())
    info = json.loads((out / BUILD_INFO_FILE).read_text())
    del info["files"]
    (out / BUILD_INFO_FILE).write_text(json.dumps(info))
    result = build_tiny_model(out, _quick())
    assert not result.reused and "records no checksums" in result.repaired


@pytest.mark.slow
def test_a_killed_build_leaves_no_staging_behind_after_the_next_run(tmp_path):
    """SIGKILL during build-tiny's warm-up leaves its hidden staging folder (nothing can clean up
    after a kill); the next build-tiny into the same --out removes it and publishes a build."""
    out = tmp_path / "bt2"
    cmd = [sys.executable, "-m", "fipo_bench", "model", "build-tiny", "--out", str(out)]
    killed = subprocess.Popen(
        [*cmd, "--steps", "100000", "--eval-problems", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob(".bt2.tmp-*")) and time.monotonic() < deadline:
            assert killed.poll() is None, "build-tiny ended before it started staging"
            time.sleep(0.2)
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        killed.wait()
    stale = list(tmp_path.glob(".bt2.tmp-*"))
    assert len(stale) == 1 and str(killed.pid) in stale[0].name

    done = subprocess.run(
        [*cmd, "--steps", "2", "--eval-problems", "0"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bt2"]
    assert build_damage(out, json.loads((out / BUILD_INFO_FILE).read_text())) is None


def test_a_live_builds_staging_is_kept(tmp_path):
    """Only staging folders of processes that are gone are removed: this process's own (a
    build in progress) stays."""
    from fipo_bench.models.build import remove_stale_staging

    live = tmp_path / f".model.tmp-{os.getpid()}-abcd1234"
    live.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f".model.tmp-{dead.pid}-abcd1234"
    gone.mkdir()
    assert remove_stale_staging(tmp_path / "model") == [gone]
    assert live.is_dir() and not gone.exists()
