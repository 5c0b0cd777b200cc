"""Real writer processes on a dashboard database: `fipo-bench eval` and `fipo-bench train` run
as subprocesses on the same DuckDB file while pages load, and are stopped with a real SIGKILL
(or SIGINT, which the evaluator turns into a `failed` eval).

Used by the dashboard tests (running / killed / failed evals, a training run being written) and
by benchmarks/dashboard_soak.py. Nothing here writes to the database itself: every row comes
from the CLI commands a user runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fipo_bench.errors import FipoBenchError
from fipo_bench.store import Store

POLL_S = 0.2
TEST_PROBLEMS = 200  # the synthetic test split, all of which the running eval covers
RUNNING_N = 4  # samples per problem of the running eval, by default


@dataclass
class Writer:
    """One `fipo-bench` writer process and its log."""

    what: str
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, sig: int = signal.SIGKILL, timeout_s: float = 60.0) -> int:
        """Send `sig` and wait for the process to end; returns its exit code."""
        if self.alive():
            os.kill(self.process.pid, sig)
        return self.process.wait(timeout_s)


def _cli(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fipo_bench", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )


def ctrl_c_as_in_a_terminal() -> None:
    """In the child before exec: SIGINT at its default, as for a command run in a terminal. A
    shell that starts a job in the background without job control (`cmd &` in a script, as
    a CI runner may start the suite) sets SIGINT to ignored, every child inherits that, and
    the test's Ctrl-C would never arrive (the interrupted eval then runs to `done`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_eval(
    db: Path,
    model_dir: Path,
    log: Path,
    *,
    seed: int,
    limit: int,
    n: int = 2,
    unit_samples: int = 4,
    max_tokens: int = 48,
) -> Writer:
    """`fipo-bench eval` of the synthetic test split on the hf engine; the seed tells evals
    apart (eval_seed finds its row)."""
    args = [
        "eval", "--model", str(model_dir), "--dataset", "synthetic", "--engine", "hf",
        "--n", str(n), "--max-tokens", str(max_tokens), "--limit", str(limit),
        "--unit-samples", str(unit_samples), "--seed", str(seed), "--db", str(db),
    ]  # fmt: skip
    return Writer(f"eval seed {seed}", _cli(args, log), log)


# tiny-fipo cut to a few seconds a step on a loaded 2-core box: still several updates per
# rollout batch (so FIPO's credit is not trivially 0), logged rollouts and a checkpoint every
# other step.
SMALL_STEPS = {
    "rollout.prompts_per_step": 2,
    "rollout.samples_per_prompt": 4,
    "rollout.max_response_tokens": 32,
    "rollout.dynamic_sampling": "false",
    "update.mini_batch_prompts": 1,
    "update.micro_batch_seqs": 4,
    "run.save_every": 2,
}


def start_train(db: Path, model_dir: Path, out: Path, log: Path, *, steps: int) -> Writer:
    """`fipo-bench train --preset tiny-fipo` (SMALL_STEPS) writing rollouts, credit and
    metrics every step."""
    args = [
        "train", "--preset", "tiny-fipo", "--model", str(model_dir), "--steps", str(steps),
        "--out", str(out), "--db", str(db), "--quiet",
    ]  # fmt: skip
    for key, value in SMALL_STEPS.items():
        args += ["--set", f"{key}={value}"]
    return Writer(f"train {out.name}", _cli(args, log), log)


def read(db: Path, fn: Callable[[Store], object]) -> object:
    """One read through a read-only Store (waits out a writer's lock like the dashboard)."""
    store = Store(db, read_only=True, lock_timeout_s=30.0)
    with store.reading() as s:
        return fn(s)


def eval_row(db: Path, seed: int) -> dict | None:
    """The eval of `seed` with its stored sample count (n_samples), or None before it exists."""
    from fipo_bench.store import dashboard_queries as dq

    rows = read(db, dq.eval_overview).to_pylist()
    return next((r for r in rows if r["seed"] == seed), None)


def run_steps(db: Path, run_name: str) -> int:
    """Last step with stored train metrics of the run named `run_name` (0 before any)."""
    from fipo_bench.store import dashboard_queries as dq

    runs, counts = read(db, lambda s: (s.list_runs().to_pylist(), dq.checkpoint_counts(s)))
    ids = {r["run_id"] for r in runs if r["name"] == run_name}
    steps = [r["last_metric_step"] or 0 for r in counts.to_pylist() if r["run_id"] in ids]
    return max(steps, default=0)


def wait_for(writer: Writer, ready: Callable[[], bool], what: str, timeout_s: float = 600.0):
    """Poll `ready` until true; fails with the writer's log if it exits first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except FipoBenchError:
            pass  # the writer held the file past the read's wait: ask again
        if not writer.alive():
            raise RuntimeError(
                f"{writer.what} exited ({writer.process.returncode}) before {what}:\n"
                + writer.log_tail()
            )
        time.sleep(POLL_S)
    raise TimeoutError(f"{writer.what}: no {what} after {timeout_s} s:\n{writer.log_tail()}")


@dataclass
class LiveEvals:
    """Writers on one database: `running` and `train` keep writing until stopped; `killed`
    was SIGKILLed before its first unit was stored (0 samples, status left `running`);
    `failed` was interrupted with SIGINT before its first unit (status `failed`)."""

    db: Path
    running: Writer
    running_seed: int
    train: Writer
    train_name: str
    killed_seed: int
    failed_seed: int

    def stop(self) -> None:
        for writer in (self.running, self.train):
            writer.signal(signal.SIGKILL)


def start_live(db: Path, model_dir: Path, work: Path, *, running_n: int = RUNNING_N) -> LiveEvals:
    """Start the writers on `db` (an existing fipo-bench database) and return once the running
    eval has stored samples, the training run has logged a step, and the killed and failed
    evals exist with no samples. running_n: samples per problem of the running eval (200 test
    problems x n samples, a unit of 2 problems stored every few seconds): what decides how long
    it keeps writing."""
    work.mkdir(parents=True, exist_ok=True)
    # One unit of 400 samples: minutes of generation before its first write, so a signal sent
    # as soon as the eval's row appears always lands before any sample is stored.
    whole = dict(limit=TEST_PROBLEMS, n=2, unit_samples=2 * TEST_PROBLEMS)
    killed = start_eval(db, model_dir, work / "killed.log", seed=101, **whole)
    wait_for(killed, lambda: eval_row(db, 101) is not None, "its eval row")
    killed.signal(signal.SIGKILL)
    failed = start_eval(db, model_dir, work / "failed.log", seed=102, **whole)
    wait_for(failed, lambda: eval_row(db, 102) is not None, "its eval row")
    # SIGINT is Ctrl-C: the evaluator marks the eval failed on its way out.
    failed.signal(signal.SIGINT)
    running = start_eval(
        db, model_dir, work / "running.log", seed=103, limit=TEST_PROBLEMS, n=running_n,
        unit_samples=2 * running_n,
    )  # fmt: skip
    train = start_train(db, model_dir, work / "train-run", work / "train.log", steps=500)
    try:
        wait_for(running, lambda: (eval_row(db, 103) or {}).get("n_samples", 0) > 0, "samples")
        wait_for(train, lambda: run_steps(db, "train-run") >= 1, "a logged step")
    except BaseException:
        running.signal(signal.SIGKILL)
        train.signal(signal.SIGKILL)
        raise
    return LiveEvals(db, running, 103, train, "train-run", 101, 102)
