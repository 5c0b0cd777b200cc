"""Opening the file: lock retry, "is this DuckDB?", schema version check, migrations, and the
one place DuckDB's failures become one-line StoreErrors.

DuckDB lets one process hold a file for writing, and a read-only open conflicts with an open
writer. Every store operation therefore opens the file, does one thing, and closes it; whoever
finds the file locked retries with backoff for a bounded time, then raises StoreError.

Faults (a full disk, an I/O error, a truncated or corrupt file, a read-only folder) surface as
duckdb errors at open, inside a statement, at commit or at close. Each becomes a StoreError
that names the file and what to do. A write that fails is rolled back: DuckDB commits through
its write-ahead log, so the file keeps exactly the transactions committed before, and rerunning
the command resumes from there.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from fipo_bench.errors import StoreError
from fipo_bench.store.schema import META_DDL, META_TABLE, MIGRATIONS, SCHEMA_VERSION, Migration

_FIRST_BACKOFF_S = 0.01
_MAX_BACKOFF_S = 0.2

# DuckDB refuses two connections with different configs (read_only vs not) to one file inside
# a process; serialising a process's own accesses per path avoids that between threads.
_PATH_LOCKS: dict[str, threading.RLock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _path_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(key, threading.RLock())


class StoreLockedError(StoreError):
    """Another process held the file for longer than lock_timeout_s."""


def _is_lock_error(exc: duckdb.Error) -> bool:
    # DuckDB: 'Could not set lock on file "...": Conflicting lock is held in ... (PID n)'.
    # Match the phrase, not the word: a path may contain "lock".
    message = str(exc).lower()
    return "could not set lock" in message or "conflicting lock" in message


_DISK_FULL = ("no space left on device", "disk full", "disk quota exceeded")
_NOT_WRITABLE = ("read-only file system", "permission denied")
_TRUNCATED = ("could not read enough bytes",)
_CORRUPT = ("corrupt database file", "checksum", "failed to read database header")


def store_error(exc: BaseException, path: Path, doing: str) -> StoreError:
    """A one-line StoreError for a DuckDB failure while `doing` (e.g. "write") on `path`."""
    message = str(exc)
    first_line = message.splitlines()[0] if message else type(exc).__name__
    low = message.lower()
    if any(k in low for k in _DISK_FULL):
        what = "the write was rolled back" if doing == "write" else f"cannot {doing} it"
        return StoreError(
            f"disk full on database {path}: {what}; free space on {path.resolve().parent} and"
            " rerun (stored data is intact and the run resumes)"
        )
    reason = next((k for k in _NOT_WRITABLE if k in low), None)
    if reason is not None:
        return StoreError(
            f"cannot {doing} database {path}: {reason} (its folder or file is not writable);"
            " use a writable --db location"
        )
    if any(k in low for k in _TRUNCATED):
        return StoreError(
            f"database {path} is truncated (the file ends before its own data does); restore it"
            " from a copy or start a new --db file"
        )
    if any(k in low for k in _CORRUPT):
        return StoreError(
            f"database {path} is corrupt ({first_line}); restore it from a copy or start a new"
            " --db file"
        )
    if "not a valid duckdb database file" in low:
        empty = path.exists() and path.stat().st_size == 0
        what = "is an empty (0-byte) file" if empty else "is not a DuckDB database file"
        return StoreError(f"{path} {what}; delete it or give a fipo-bench .duckdb file")
    if isinstance(exc, duckdb.IOException):
        return StoreError(f"I/O error on database {path} during {doing}: {first_line}")
    if doing == "write":
        # A bad value that passed the Arrow checks (e.g. a string in an int column).
        return StoreError(f"write to {path} rolled back: {first_line}")
    return StoreError(f"{doing} on database {path} failed: {first_line}")


def _open_once(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        message = str(exc)
        if _is_lock_error(exc):
            raise
        if "database does not exist" in message:
            raise StoreError(
                f"database {path} does not exist; run a command that writes first"
            ) from exc
        if "version" in message.lower() and "storage" in message.lower():
            raise StoreError(f"{path} was written by a different DuckDB storage version") from exc
        raise store_error(exc, path, "open") from exc


def connect_with_retry(
    path: Path, *, read_only: bool, lock_timeout_s: float
) -> duckdb.DuckDBPyConnection:
    """Open `path`, retrying while another process holds a conflicting lock."""
    deadline = time.monotonic() + lock_timeout_s
    backoff_s = _FIRST_BACKOFF_S
    while True:
        try:
            return _open_once(path, read_only)
        except duckdb.Error as exc:
            if time.monotonic() >= deadline:
                pid = re.search(r"\(PID (\d+)\)", str(exc))
                holder = f" (PID {pid.group(1)})" if pid else ""
                raise StoreLockedError(
                    f"database {path} stayed locked by another process{holder} for"
                    f" {lock_timeout_s:g} s; retry later or raise lock_timeout_s"
                ) from exc
            time.sleep(min(backoff_s, max(0.0, deadline - time.monotonic())))
            backoff_s = min(backoff_s * 2, _MAX_BACKOFF_S)


@contextmanager
def open_connection(
    path: Path, *, read_only: bool, lock_timeout_s: float
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection held only for the `with` block (plus this process's per-path lock).

    A DuckDB failure inside the block, or at close (which may checkpoint the log into the
    file), comes out as a one-line StoreError (`store_error`)."""
    doing = "read" if read_only else "write"
    with _path_lock(path):
        con = connect_with_retry(path, read_only=read_only, lock_timeout_s=lock_timeout_s)
        try:
            yield con
        except BaseException as exc:
            if not read_only:
                _drop_empty_log(path)
            with suppress(duckdb.Error):  # the error that ended the block is the one to report
                con.close()
            if isinstance(exc, duckdb.Error):
                raise store_error(exc, path, doing) from exc
            raise
        try:
            con.close()
        except duckdb.Error as exc:
            raise store_error(exc, path, doing) from exc


def _drop_empty_log(path: Path) -> None:
    """Remove a 0-byte write-ahead log left by a write that failed (a full disk): it holds
    nothing, and this process still holds the write lock, so no other process uses it."""
    wal = path.with_name(path.name + ".wal")
    with suppress(OSError):
        if wal.stat().st_size == 0:
            wal.unlink()


@contextmanager
def committed(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back on any error (the commit's
    own included: a full disk fails there, when the log is written)."""
    con.begin()
    try:
        yield con
        con.commit()
    except BaseException as exc:
        with suppress(duckdb.Error):  # a failed commit has already ended the transaction
            con.rollback()
        if isinstance(exc, duckdb.Error):
            raise store_error(exc, path, "write") from exc
        raise


def user_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def schema_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The version recorded in the file: 0 for an empty DuckDB file.

    Raises StoreError for a DuckDB file that holds other tables but no `schema_meta` (someone
    else's database: never write into it).
    """
    tables = user_tables(con)
    if META_TABLE not in tables:
        if tables:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(
                f"{path} is a DuckDB file but not a fipo-bench database (tables: {shown});"
                " give a fipo-bench .duckdb file or a new path"
            )
        return 0
    found = scalar(con, f"SELECT max(version) FROM {META_TABLE}")
    return int(found) if found is not None else 0  # type: ignore[call-overload]


def check_version(found: int, path: Path, code_version: int = SCHEMA_VERSION) -> None:
    if found > code_version:
        raise StoreError(
            f"{path} has schema version {found}, newer than this fipo-bench knows"
            f" ({code_version}); upgrade fipo-bench to read it"
        )


def migrate(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the file to the last version in `migrations`, in one transaction.

    Returns the version the file had before. Steps already applied are skipped.
    """
    target = migrations[-1].version
    found = schema_version(con, path)
    check_version(found, path, target)
    if found == target:
        return found
    with committed(con, path):
        con.execute(META_DDL)
        for step in migrations:
            if step.version <= found:
                continue
            for statement in step.statements:
                con.execute(statement)
            con.execute(
                f"INSERT INTO {META_TABLE} (version, description) VALUES (?, ?)",
                [step.version, step.description],
            )
    return found


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> object:
    """First value of the first row (None if no row).

    Fetches every row: DuckDB 2.0 keeps a result "unfinished" after a lone fetchone(), and an
    unfinished result blocks unregistering the Arrow views the query read.
    """
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None
