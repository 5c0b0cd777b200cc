"""Sharded evaluation output: Parquet files in a hive layout, written without any DuckDB file.

DuckDB allows one writer process per file, so N shards of an eval (on N machines, or N Ray
tasks) each write their rows here and one `fipo-bench db merge DIR --db FILE` writes the
database (merge.py). Layout, for shard K of N (K = 1..N):

    DIR/shards/shard=K/shard.parquet          shard, num_shards
    DIR/runs/shard=K/part-<digest>.parquet    upsert_run rows
    DIR/problems/shard=K/part-<digest>.parquet
    DIR/evals/shard=K/<eval_id>.parquet       the eval row as the shard's last call left it
    DIR/samples/shard=K/part-<digest>.parquet one file per write_samples call (a unit of work)
    DIR/tokens/shard=K/part-<digest>.parquet  that unit's token rows

Every file is written under a temporary name and renamed into place, so a killed shard leaves
whole files only. A unit's tokens file is renamed before its samples file and a unit counts
only once its samples file exists: a kill between the two leaves a tokens file that merge
ignores and the resumed shard overwrites (the digest names the unit's sample ids, so a rerun
of a unit writes the same file names). An eval's status 'done' in a shard's evals file marks
that shard's part of the eval complete.

`ShardStore` has the methods of `Store` the evaluator calls, with the same arguments and
checks: every batch goes through the same write functions as the database, on a private
in-memory DuckDB that holds the real schema, so a shard file has exactly the table's columns
and types and a bad batch fails here, not at merge time.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Unpack

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fipo_bench.errors import ConfigError, StoreError
from fipo_bench.store import queries, sample_writes, writes
from fipo_bench.store.connection import migrate, store_error
from fipo_bench.store.writes import EvalFields, ProblemLike, RunFields

SHARD_TABLES = ("runs", "problems", "evals", "samples", "tokens")
MANIFEST = "shard.parquet"
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_MEMORY = Path(":memory:")
T = TypeVar("T")


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` of `count` (1-based: 1/4 is the first of four)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ConfigError(
                f"shard {self.index}/{self.count} does not exist; use K/N with 1 <= K <= N"
            )

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """'K/N' -> ShardSpec(K, N); ConfigError naming the value otherwise."""
        match = _SHARD_RE.match(str(text))
        if match is None:
            raise ConfigError(f"--shard {text!r} is not K/N; give e.g. 1/4 (shard 1 of 4)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_folder(root: Path, table: str, index: int) -> Path:
    return root / table / f"shard={index}"


def digest(values: Iterable[object]) -> str:
    """A short name for a set of keys: the same keys give the same file name on a rerun."""
    h = hashlib.blake2b(digest_size=8)
    for value in values:
        h.update(repr(value).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` as Parquet: to a temporary name in the same folder, then a
    rename, so a reader sees the old file or the new one, never a partial one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC or "no space left" in str(exc).lower():
            raise StoreError(
                f"disk full: cannot write shard file {path}; free space on {path.parent} and"
                " rerun the shard (finished units are kept and skipped)"
            ) from exc
        reason = exc.strerror or str(exc).splitlines()[0]
        raise StoreError(
            f"cannot write shard file {path}: {reason}; choose a writable --out-dir"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def unreadable(path: Path, exc: Exception) -> StoreError:
    return StoreError(
        f"shard file {path} is not readable Parquet ({str(exc).splitlines()[0]});"
        " delete it and rerun that shard"
    )


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """One shard file; StoreError naming it if it is not (or no longer) readable Parquet."""
    try:
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable(path, exc) from exc


def part_files(folder: Path) -> list[Path]:
    """The finished files of a folder (temporary files of a killed writer are not listed)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".parquet" and p.name[0] != ".")


def shard_indices(root: Path) -> list[int]:
    """The K of every shard folder `root` has a manifest for, sorted."""
    found = []
    for folder in (root / "shards").glob("shard=*"):
        if (folder / MANIFEST).is_file():
            index = folder.name.removeprefix("shard=")
            if index.isdigit():
                found.append(int(index))
    return sorted(found)


class ShardStore:
    """The output of one shard: `Store`'s evaluator-facing methods, writing Parquet files.

    Methods: upsert_run, upsert_problems, upsert_eval, set_eval_status, write_samples (one call
    = one unit, written atomically), get_eval, done_sample_keys, eval_samples.
    StoreError if `root` is a file or already holds shards of another count.
    """

    def __init__(self, root: str | os.PathLike[str], shard: ShardSpec) -> None:
        self.root = Path(root)
        self.shard = shard
        self._lock = threading.RLock()
        self._scratch = duckdb.connect(":memory:")
        migrate(self._scratch, _MEMORY)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"shard output {self.root} is a file; give a folder for --out-dir")
        for index in shard_indices(self.root):
            manifest = shard_folder(self.root, "shards", index) / MANIFEST
            count = read_parquet(manifest)["num_shards"][0].as_py()
            if count != shard.count:
                raise StoreError(
                    f"{self.root} holds shards of {count}, not {shard.count} ({manifest});"
                    f" use another --out-dir or --shard K/{count}"
                )
        manifest = pa.table(
            {
                "shard": pa.array([shard.index], pa.int32()),
                "num_shards": pa.array([shard.count], pa.int32()),
            }
        )
        write_atomic(manifest, self._folder("shards") / MANIFEST)

    def _folder(self, table: str) -> Path:
        return shard_folder(self.root, table, self.shard.index)

    @contextmanager
    def _database(self, loaded: Mapping[str, list[Path]]) -> Iterator[duckdb.DuckDBPyConnection]:
        """The scratch database holding the rows of `loaded` files, for one operation.

        One in-memory DuckDB with the schema per ShardStore (opening one costs ~0.1 s); every
        operation runs in a transaction that is rolled back at the end, so the scratch
        database is empty again for the next. One operation at a time (the evaluator reads
        from one thread and writes from another)."""
        with self._lock:
            con = self._scratch
            con.begin()
            try:
                for table, files in loaded.items():
                    if files:
                        con.register("_loaded", pa.concat_tables(read_parquet(f) for f in files))
                        con.execute(f"INSERT INTO {table} SELECT * FROM _loaded")
                yield con
            except duckdb.Error as exc:
                raise store_error(exc, self.root, "write") from exc
            finally:
                with suppress(duckdb.Error):  # a failed statement may have ended it already
                    con.rollback()

    def _update(
        self, table: str, path: Path, change: Callable[[duckdb.DuckDBPyConnection], T]
    ) -> T:
        """Apply `change` (a write function of writes.py) to the rows stored in `path` and
        write the result back whole."""
        with self._database({table: [path] if path.exists() else []}) as con:
            result = change(con)
            write_atomic(con.sql(f"SELECT * FROM {table}").to_arrow_table(), path)
        return result

    def _eval_file(self, eval_id: str) -> Path:
        return self._folder("evals") / f"part-{digest([eval_id])}.parquet"

    # ---- writes -----------------------------------------------------------------------------

    def upsert_run(self, run_id: str, **fields: Unpack[RunFields]) -> None:
        """As `Store.upsert_run` (kind=..., name, algo, preset, config, model_path)."""
        path = self._folder("runs") / f"part-{digest([run_id])}.parquet"
        self._update("runs", path, lambda con: writes.upsert_run(con, run_id, **fields))

    def upsert_problems(self, problems: Iterable[ProblemLike]) -> int:
        """As `Store.upsert_problems`: one file per distinct set of problems."""
        batch = writes.problems_batch(problems)
        if batch.num_rows == 0:
            return 0
        keys = zip(batch["dataset"].to_pylist(), batch["problem_id"].to_pylist(), strict=True)
        path = self._folder("problems") / f"part-{digest(sorted(keys))}.parquet"
        return self._update("problems", path, lambda con: writes.upsert_problems(con, batch))

    def upsert_eval(self, eval_id: str, **fields: Unpack[EvalFields]) -> bool:
        """As `Store.upsert_eval` (same fields and checks); True when this shard had it."""
        path = self._eval_file(eval_id)
        return self._update("evals", path, lambda con: writes.upsert_eval(con, eval_id, **fields))

    def set_eval_status(
        self, eval_id: str, status: str, *, metrics: Mapping[str, Any] | None = None
    ) -> None:
        """As `Store.set_eval_status`. 'done' marks this shard's part of the eval complete
        (its metrics cover this shard only; merge recomputes them over all shards)."""
        self._update(
            "evals",
            self._eval_file(eval_id),
            lambda con: writes.set_eval_status(con, eval_id, status, metrics=metrics),
        )

    def write_samples(self, samples: pa.Table, tokens: pa.Table | None = None) -> int:
        """As `Store.write_samples`: one call is one unit, atomic (tokens file, then samples)."""
        tokens = sample_writes.check_samples(samples, tokens)
        if samples.num_rows == 0:
            return 0
        name = f"part-{digest(sorted(samples['sample_id'].to_pylist()))}.parquet"
        with self._database({}) as con:
            sample_writes.insert_samples(con, samples, tokens)
            rows = con.sql("SELECT * FROM tokens ORDER BY sample_id, pos").to_arrow_table()
            write_atomic(rows, self._folder("tokens") / name)
            rows = con.sql("SELECT * FROM samples ORDER BY sample_id").to_arrow_table()
            write_atomic(rows, self._folder("samples") / name)
        return samples.num_rows

    # ---- reads ------------------------------------------------------------------------------

    def get_eval(self, eval_id: str) -> dict[str, Any] | None:
        """As `Store.get_eval`, from this shard's files."""
        path = self._eval_file(eval_id)
        if not path.exists():
            return None
        with self._database({"evals": [path]}) as con:
            return queries.get_eval(con, eval_id)

    def done_sample_keys(self, eval_id: str) -> set[tuple[str, int]]:
        """{(problem_id, sample_idx)} of the eval in this shard's finished units."""
        keys: set[tuple[str, int]] = set()
        for path in part_files(self._folder("samples")):
            rows = read_parquet(path, ["eval_id", "problem_id", "sample_idx"]).to_pylist()
            keys.update((r["problem_id"], r["sample_idx"]) for r in rows if r["eval_id"] == eval_id)
        return keys

    def eval_samples(self, eval_id: str, *, problem_id: str | None = None) -> pa.Table:
        """As `Store.eval_samples`, over this shard's finished units."""
        with self._database({"samples": part_files(self._folder("samples"))}) as con:
            return queries.eval_samples(con, eval_id, problem_id=problem_id)
