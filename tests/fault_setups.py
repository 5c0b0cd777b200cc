"""The setups that docs/reliability.md's rows name: each builds a real fault in a working folder.

A setup gets the case's empty working folder and a `Fixtures` handle, and returns a `Prepared`:
the `{placeholders}` of the row's command and optional actions around it: `before` (start a
lock holder, once the folder's state is recorded), `during` (send Ctrl-C, ...) and `release`
(stop the lock holder, before the folder is compared with its recorded state). Faults are
real: truncated files, a tmpfs that is full or read-only (root only; skipped with the reason
otherwise), a second process holding the DuckDB lock, a listening socket on the dashboard's
port.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A hang guard for readiness waits, not a speed check.
WAIT_TIMEOUT_S = 600


@dataclass
class Prepared:
    """What a setup hands the runner."""

    placeholders: dict[str, str] = field(default_factory=dict)
    before: Callable[[], None] | None = None  # after the first snapshot, before the command
    during: Callable[[subprocess.Popen[str]], None] | None = None
    release: Callable[[], None] | None = None  # after the command, before the second snapshot


@dataclass
class Fixtures:
    """Lazy access to the session fixtures a setup needs (only the cases that need the tiny
    model build it)."""

    request: pytest.FixtureRequest

    def get(self, name: str):
        return self.request.getfixturevalue(name)

    def finalizer(self, fn: Callable[[], None]) -> None:
        self.request.addfinalizer(fn)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    """Poll until condition() holds; fail if the command ends first."""
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def stop_if_it_writes(work: Path, name: str) -> Callable[[subprocess.Popen[str]], None]:
    """A bad input must be rejected before anything is written. Once work/name appears while
    the command still runs, it is working on the bad input: stop it there (the case then fails
    on its exit status and the changed folder) rather than let it run for minutes."""

    def during(proc: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            if (work / name).exists():
                proc.kill()
                return
            time.sleep(0.05)

    return during


# ------------------------------------------------------------------ building blocks


def copy_model(fx: Fixtures, work: Path, name: str = "model") -> Path:
    target = work / name
    shutil.copytree(fx.get("tiny_model_dir"), target)
    return target


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def copy_stored_eval(fx: Fixtures, target: Path) -> dict[str, str]:
    """A copy of the session's small stored eval; its placeholders."""
    stored = fx.get("stored_eval")
    shutil.copyfile(stored["db"], target)
    return {"eval_id": stored["eval_id"]}


def mount_tmpfs(fx: Fixtures, mount_point: Path, *, size: str, read_only: bool = False) -> None:
    """A real tmpfs at mount_point, unmounted after the test (needs root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to mount a tmpfs for a real full/read-only disk")
    mount_point.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    fx.finalizer(lambda: subprocess.run(["umount", "-l", str(mount_point)], check=False))


def fill_disk(folder: Path) -> None:
    """Write zeros until the filesystem says ENOSPC: from here on any write fails."""
    with open(folder / "filler.bin", "wb", buffering=0) as filler:
        chunk = b"\0" * 65536
        try:
            while True:
                filler.write(chunk)
        except OSError:
            pass
        try:
            while True:  # the last few bytes
                filler.write(b"\0")
        except OSError:
            pass


def full_disk(fx: Fixtures, work: Path, *, with_eval_db: bool = False) -> dict[str, str]:
    """work/full: a 64 MiB tmpfs holding (optionally) a copy of the stored eval, then filled."""
    full = work / "full"
    mount_tmpfs(fx, full, size="64m")
    placeholders: dict[str, str] = {}
    if with_eval_db:
        placeholders |= copy_stored_eval(fx, full / "fipo.duckdb")
    fill_disk(full)
    return placeholders


# ------------------------------------------------------------------ setups


def setup_none(work: Path, fx: Fixtures) -> Prepared:
    return Prepared()


def setup_interrupt_build(work: Path, fx: Fixtures) -> Prepared:
    """Ctrl-C once `build-tiny --out m` has created its staging folder (it is under way)."""

    def during(proc: subprocess.Popen[str]) -> None:
        wait_for(lambda: any(work.glob(".m.tmp-*")), proc, "the build's staging folder")
        proc.send_signal(signal.SIGINT)

    return Prepared(during=during)


def setup_aime(work: Path, fx: Fixtures) -> Prepared:
    """The tiny model and the real aime24 file."""
    return Prepared({"model": str(fx.get("tiny_model_dir")), "aime24": fx.get("aime24_file")})


def _model_with(work: Path, fx: Fixtures, change: Callable[[Path], None]) -> Prepared:
    model = copy_model(fx, work)
    change(model)
    prepared = setup_aime(work, fx)
    prepared.placeholders["model"] = "model"
    return prepared


def setup_aime_until_db(work: Path, fx: Fixtures) -> Prepared:
    """Like `aime`, but the eval is stopped if it creates work/e.duckdb before rejecting."""
    prepared = setup_aime(work, fx)
    prepared.during = stop_if_it_writes(work, "e.duckdb")
    return prepared


def setup_truncated_weights(work: Path, fx: Fixtures) -> Prepared:
    """work/model: the tiny model with model.safetensors cut to half its size."""
    return _model_with(work, fx, lambda model: truncate_half(model / "model.safetensors"))


def setup_empty_weights(work: Path, fx: Fixtures) -> Prepared:
    """work/model: the tiny model with a 0-byte model.safetensors."""
    return _model_with(work, fx, lambda model: (model / "model.safetensors").write_bytes(b""))


def setup_config_not_object(work: Path, fx: Fixtures) -> Prepared:
    """work/model: config.json is valid JSON but a list, not an object."""
    return _model_with(work, fx, lambda model: (model / "config.json").write_text("[1,2,3]\n"))


def setup_credit_truncated_ref(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval; work/model is a reference with truncated weights."""
    prepared = setup_truncated_weights(work, fx)
    prepared.placeholders |= copy_stored_eval(fx, work / "fipo.duckdb")
    return prepared


def setup_truncated_trainer_state(work: Path, fx: Fixtures) -> Prepared:
    """work/run: a one-step training run (trained here: a run's id is its folder's path) whose
    last trainer_state.pt is then cut to half."""
    from fipo_bench.cli import main

    model = str(fx.get("tiny_model_dir"))
    args = ["train", "--preset", "tiny-grpo", "--model", model, "--steps", "1", "--out",
            str(work / "run"), "--db", str(work / "fipo.duckdb"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    (state,) = sorted((work / "run").rglob("trainer_state.pt"))[-1:]
    truncate_half(state)
    return Prepared({"model": model})


def setup_big_prompt(work: Path, fx: Fixtures) -> Prepared:
    """work/big.jsonl: one problem whose prompt is 5 MB (stopped if it creates e.duckdb)."""
    row = {"id": "big", "problem": "What is 1+1? " + "x" * 5_000_000, "answer": "2"}
    (work / "big.jsonl").write_text(json.dumps(row) + "\n")
    return setup_aime_until_db(work, fx)


def setup_nested_json(work: Path, fx: Fixtures) -> Prepared:
    """work/nested.jsonl: one 200 KB line of deeply nested JSON arrays (stopped if it creates
    e.duckdb)."""
    depth = 100_000
    (work / "nested.jsonl").write_text("[" * depth + "]" * depth + "\n")
    return setup_aime_until_db(work, fx)


def setup_binary_lexicon(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval; work/lexicon.bin is binary, not text."""
    placeholders = copy_stored_eval(fx, work / "fipo.duckdb")
    (work / "lexicon.bin").write_bytes(bytes(range(256)) * 64)
    return Prepared({**placeholders, "model": str(fx.get("tiny_model_dir"))})


def setup_stored_eval(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval (1 problem, 1 sample)."""
    return Prepared(
        {**copy_stored_eval(fx, work / "fipo.duckdb"), "model": str(fx.get("tiny_model_dir"))}
    )


def setup_export_onto_folder(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval; work/exists is a folder."""
    (work / "exists").mkdir()
    return setup_stored_eval(work, fx)


def setup_zero_sample_eval(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds an eval that has no samples (as one killed before its first)."""
    from fipo_bench.store import Store

    store = Store(work / "fipo.duckdb")
    store.upsert_eval(
        "empty-eval", dataset="aime24", n=1, temperature=1.0, top_p=0.7, max_tokens=8, seed=0,
        engine="hf", model_path=str(fx.get("tiny_model_dir")),
    )  # fmt: skip
    store.set_eval_status("empty-eval", "failed")
    return Prepared({"eval_id": "empty-eval", "model": str(fx.get("tiny_model_dir"))})


def setup_lock_held(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval, and a second process holds its write lock for the
    whole command: started after the folder's first snapshot, stopped before the second."""
    prepared = setup_aime(work, fx)
    prepared.placeholders |= copy_stored_eval(fx, work / "fipo.duckdb")
    holders: list[subprocess.Popen[str]] = []

    def hold() -> None:
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True);"
                " sys.stdin.read()",
                str(work / "fipo.duckdb"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        fx.finalizer(lambda: holder.poll() is None and holder.kill())
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

    def release() -> None:
        for holder in holders:
            holder.communicate(input="", timeout=WAIT_TIMEOUT_S)

    prepared.before = hold
    prepared.release = release
    return prepared


def setup_port_in_use(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval, and this test listens on the port asked for."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    fx.finalizer(listener.close)
    prepared = setup_stored_eval(work, fx)
    prepared.placeholders["port"] = str(listener.getsockname()[1])
    return prepared


def setup_full_disk(work: Path, fx: Fixtures) -> Prepared:
    """work/full is a real tmpfs with no space left (root only)."""
    prepared = setup_aime(work, fx)
    prepared.placeholders |= full_disk(fx, work)
    return prepared


def setup_full_disk_with_eval(work: Path, fx: Fixtures) -> Prepared:
    """work/full is a full tmpfs that holds a copy of the small eval's database (root only)."""
    prepared = setup_aime(work, fx)
    prepared.placeholders |= full_disk(fx, work, with_eval_db=True)
    return prepared


def setup_full_disk_beside_eval(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval; work/full is a full tmpfs (root only)."""
    prepared = setup_stored_eval(work, fx)
    full_disk(fx, work)
    return prepared


def setup_read_only_beside_eval(work: Path, fx: Fixtures) -> Prepared:
    """work/fipo.duckdb holds a small eval; work/ro is a read-only tmpfs (root only)."""
    prepared = setup_stored_eval(work, fx)
    mount_tmpfs(fx, work / "ro", size="1m", read_only=True)
    return prepared


def setup_bad_demo_inputs(work: Path, fx: Fixtures) -> Prepared:
    """work/bad.jsonl is not an AIME file; work/notes.db is text, not DuckDB. The demo is
    stopped if it creates its --workdir d before rejecting them."""
    (work / "bad.jsonl").write_text("this is not json\n")
    (work / "notes.db").write_text("hello\n")
    return Prepared(during=stop_if_it_writes(work, "d"))


SETUPS: dict[str, Callable[[Path, Fixtures], Prepared]] = {
    "-": setup_none,
    "interrupt-build": setup_interrupt_build,
    "aime": setup_aime,
    "aime-until-db": setup_aime_until_db,
    "truncated-weights": setup_truncated_weights,
    "empty-weights": setup_empty_weights,
    "config-not-object": setup_config_not_object,
    "credit-truncated-ref": setup_credit_truncated_ref,
    "truncated-trainer-state": setup_truncated_trainer_state,
    "big-prompt": setup_big_prompt,
    "nested-json": setup_nested_json,
    "binary-lexicon": setup_binary_lexicon,
    "export-onto-folder": setup_export_onto_folder,
    "zero-sample-eval": setup_zero_sample_eval,
    "lock-held": setup_lock_held,
    "port-in-use": setup_port_in_use,
    "full-disk": setup_full_disk,
    "full-disk-with-eval": setup_full_disk_with_eval,
    "full-disk-beside-eval": setup_full_disk_beside_eval,
    "read-only-beside-eval": setup_read_only_beside_eval,
    "bad-demo-inputs": setup_bad_demo_inputs,
}
