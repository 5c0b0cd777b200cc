"""The pages' only door to data: a read-only Store and cached fipo_bench.store queries.

The database path comes from $FIPO_BENCH_DB (set by `fipo-bench dashboard --db FILE`). Reads
open the file read-only with a bounded lock retry, so the app keeps working while a trainer or
an evaluator writes to the same file. Cached results are keyed on the file's modification time
and size (and its WAL's): a write invalidates them, a page re-run without writes costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import streamlit as st

from fipo_bench.analysis.events import EventStudy, event_study
from fipo_bench.analysis.reports import Report, build_report
from fipo_bench.analysis.run_curves import checkpoint_points, run_infos
from fipo_bench.errors import FipoBenchError
from fipo_bench.reflection import default_lexicon
from fipo_bench.store import Store, default_db_path
from fipo_bench.store import dashboard_queries as dq
from fipo_dash.status import EvalProgress, eval_progress, json_field

LOCK_TIMEOUT_S = 5.0  # a writer holds the file for one batch; wait at most this long
FILL_HINT = {
    "evals": "run `fipo-bench eval --model MODEL --dataset NAME --db {db}`",
    "train": "run `fipo-bench train --preset PRESET --model MODEL --steps N --out RUN_DIR"
    " --db {db}` (`fipo-bench presets` lists the presets)",
}


def db_path() -> Path:
    return default_db_path().resolve()


def hint(what: str) -> str:
    return FILL_HINT[what].format(db=db_path())


def _version(path: Path) -> tuple[int, int, int, int]:
    """(mtime_ns, size) of the file and of its write-ahead log: changes with every commit."""
    out = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            stat = p.stat()
            out += [stat.st_mtime_ns, stat.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return tuple(out)  # type: ignore[return-value]


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path, read_only=True, lock_timeout_s=LOCK_TIMEOUT_S)


def store() -> Store:
    """The read-only store, or a one-line error on the page and stop (missing/not DuckDB)."""
    try:
        return _store(str(db_path()))
    except FipoBenchError as exc:
        st.error(f"Cannot open the database: {exc}")
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers honest


def _key() -> tuple[str, tuple[int, int, int, int]]:
    path = db_path()
    return str(path), _version(path)


def data_key() -> tuple[str, tuple[int, int, int, int]]:
    """Cache key of the database's current contents (path, file version): changes on write."""
    return _key()


def _run(fn, *args):
    """Call a store read; a lock that outlasts the retry becomes a message, not a traceback."""
    try:
        with store().reading() as s:
            return fn(s, *args)
    except FipoBenchError as exc:
        st.error(f"Database read failed: {exc}")
        st.stop()
        raise


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


@st.cache_data(show_spinner=False, max_entries=32)
def _evals(key) -> pd.DataFrame:
    return _frame(_run(dq.eval_overview))


@st.cache_data(show_spinner=False, max_entries=32)
def _runs(key) -> pd.DataFrame:
    runs = _frame(_run(lambda s: s.list_runs()))
    counts = _frame(_run(dq.checkpoint_counts))
    return runs.merge(counts, on="run_id", how="left") if not runs.empty else runs


@st.cache_data(show_spinner=False, max_entries=32)
def _problem_counts(key) -> pd.DataFrame:
    return _frame(_run(dq.problem_counts))


@st.cache_data(show_spinner=False, max_entries=16)
def _sample_rows(key, eval_ids: tuple[str, ...]) -> pd.DataFrame:
    frame = _frame(_run(dq.sample_rows, list(eval_ids)))
    lexicon = default_lexicon()
    frame["reflections"] = [lexicon.count(t) for t in frame["text"]]
    return frame.drop(columns=["text"])


@st.cache_data(show_spinner=False, max_entries=64)
def _problem_texts(key, dataset: str, problem_ids: tuple[str, ...]) -> pd.DataFrame:
    return _frame(_run(dq.problem_texts, dataset, list(problem_ids)))


@st.cache_data(show_spinner=False, max_entries=32)
def _analyses(key) -> tuple[dict[str, dict[str, dict]], dict[str, tuple]]:
    rows = _run(dq.analyses).to_pylist()
    settings: dict[str, dict[str, dict]] = {}
    stamps: dict[str, tuple] = {}
    for row in rows:
        settings.setdefault(row["eval_id"], {})[row["kind"]] = json_field(row["settings"])
        stamps[row["eval_id"]] = (*stamps.get(row["eval_id"], ()), str(row["updated_at"]))
    return settings, stamps


def _eval_versions(eval_ids: Sequence[str]) -> tuple:
    """What an eval's analysis numbers depend on: its stored samples (status, count, finish
    time) and its credit/pivot analyses. Writes to other evals or runs leave it unchanged, so
    a page over finished evals keeps its cached statistics while an eval elsewhere runs."""
    rows = evals().set_index("eval_id")
    stamps = _analyses(_key())[1]
    return tuple(
        (e, str(rows.at[e, "status"]), int(rows.at[e, "n_samples"]),
         str(rows.at[e, "finished_at"]), stamps.get(e, ()))
        for e in eval_ids
    )  # fmt: skip


@st.cache_data(show_spinner="Computing the statistics...", max_entries=16)
def _report(versions: tuple, eval_ids: tuple[str, ...]) -> Report:
    # Each read opens the file for itself: holding one connection through the bootstrap would
    # keep a writer waiting for seconds.
    return build_report(store(), list(eval_ids))


@st.cache_data(show_spinner=False, max_entries=16)
def _checkpoint_points(key, run_ids: tuple[str, ...]) -> list:
    runs = run_infos(store(), list(run_ids))
    return [(run, checkpoint_points(store(), run)) for run in runs]


@st.cache_data(show_spinner="Running the pivot event study...", max_entries=16)
def _event_study(versions: tuple, eval_id: str) -> EventStudy:
    return event_study(store(), eval_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _outcomes(key, eval_ids: tuple[str, ...], problem_id: str | None) -> pd.DataFrame:
    return _frame(_run(dq.eval_outcomes, list(eval_ids), problem_id))


@st.cache_data(show_spinner=False, max_entries=64)
def _trajectory(key, sample_id: int) -> tuple[pa.Table, pa.Table]:
    return _run(lambda s: (s.trajectory(sample_id), s.pivots(sample_id)))


@st.cache_data(show_spinner=False, max_entries=32)
def _rollout_steps(key, run_id: str) -> pd.DataFrame:
    return _frame(_run(dq.rollout_steps, run_id))


@st.cache_data(show_spinner=False, max_entries=32)
def _step_outcomes(key, run_id: str, step: int) -> pd.DataFrame:
    return _frame(_run(dq.step_outcomes, run_id, step))


@st.cache_data(show_spinner=False, max_entries=32)
def _metric_names(key, run_ids: tuple[str, ...]) -> list[str]:
    return _run(dq.metric_names, list(run_ids))


@st.cache_data(show_spinner=False, max_entries=32)
def _train_metrics(key, run_ids: tuple[str, ...], names: tuple[str, ...]) -> pd.DataFrame:
    return _frame(_run(dq.runs_train_metrics, list(run_ids), list(names)))


def evals() -> pd.DataFrame:
    """Every eval (dashboard_queries.eval_overview): stored row, sample counts, checkpoint."""
    return _evals(_key())


def evals_or_stop(nothing: str) -> pd.DataFrame:
    """Every eval; on a database without any, a note (`nothing`) with the command that makes
    one, and the page stops."""
    store()
    frame = evals()
    if frame.empty:
        st.info(f"{nothing}: {hint('evals')}.")
        st.stop()
    return frame


def progress(evals: pd.DataFrame) -> dict[str, EvalProgress]:
    """eval_id -> state and progress; not cached: a writer can die without touching the file."""
    return {row["eval_id"]: eval_progress(row) for row in evals.to_dict("records")}


def problem_counts() -> pd.DataFrame:
    """(eval_id, problem_id, n_samples, n_correct) of every eval's stored samples."""
    return _problem_counts(_key())


def sample_rows(eval_ids: list[str]) -> pd.DataFrame:
    """Samples of the evals with problem text, gold answer and reflection count (one lexicon:
    fipo_bench.reflection), without the response text."""
    return _sample_rows(_key(), tuple(eval_ids))


def problem_texts(dataset: str, problem_ids: list[str]) -> pd.DataFrame:
    return _problem_texts(_key(), dataset, tuple(problem_ids))


def analyses() -> dict[str, dict[str, dict]]:
    """eval_id -> {"credit" | "pivots": settings} of the analyses stored for it."""
    return _analyses(_key())[0]


def report(eval_ids: list[str]) -> Report:
    """The analysis layer's report of these evals (statistics, comparison against the first,
    length fits, reflection): the numbers `fipo-bench report` prints for them. A one-line
    error on the page and stop where they cannot be computed."""
    try:
        return _report(_eval_versions(eval_ids), tuple(eval_ids))
    except FipoBenchError as exc:
        st.error(f"The statistics cannot be computed: {exc}")
        st.stop()
        raise


@st.cache_data(show_spinner=False, max_entries=16)
def _run_labels(key) -> dict[str, str]:
    ids = _run(lambda s: s.list_runs())["run_id"].to_pylist()
    return {run.run_id: run.label for run in run_infos(store(), ids)}


def run_labels() -> dict[str, str]:
    """run_id -> the run's name (its folder), its id where two runs share a name: the label
    analysis.run_curves gives it in the reports."""
    return _run_labels(_key())


def checkpoint_curves(run_ids: list[str]) -> list:
    """(RunInfo, [CheckpointPoint]) per run: avg@k and cons@k of every eval of its checkpoints
    (validation evals included), as analysis.run_curves gives Figure 1 of the report."""
    return _checkpoint_points(_key(), tuple(run_ids))


def pivot_event_study(eval_id: str) -> EventStudy:
    """analysis.events.event_study of one eval, cached until its samples or credit change."""
    return _event_study(_eval_versions([eval_id]), eval_id)


def runs() -> pd.DataFrame:
    return _runs(_key())


def outcomes(eval_ids: list[str], problem_id: str | None = None) -> pd.DataFrame:
    return _outcomes(_key(), tuple(eval_ids), problem_id)


def trajectory(sample_id: int) -> tuple[pa.Table, pa.Table]:
    """(tokens by pos, pivots) of one sample."""
    return _trajectory(_key(), int(sample_id))


def rollout_steps(run_id: str) -> pd.DataFrame:
    return _rollout_steps(_key(), run_id)


def step_outcomes(run_id: str, step: int) -> pd.DataFrame:
    return _step_outcomes(_key(), run_id, int(step))


def metric_names(run_ids: list[str]) -> list[str]:
    return _metric_names(_key(), tuple(run_ids))


def train_metrics(run_ids: list[str], names: list[str]) -> pd.DataFrame:
    return _train_metrics(_key(), tuple(run_ids), tuple(names))
