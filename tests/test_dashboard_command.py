"""`fipo-bench dashboard`: bad input and a port in use are one line and exit 2 before anything
is served; the command finds the app that belongs to the code running (wheel or checkout)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from dashboard_pages import APP, ROOT

from fipo_bench.store import Store


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "{tmp}/missing.duckdb"], "does not exist"),
        (["--db", "{tmp}/bad.duckdb"], "not a DuckDB database file"),
        (["--db", "{tmp}/ok.duckdb", "--port", "70000"], "--port 70000 is invalid"),
    ],
)
def test_dashboard_command_rejects_bad_input_with_exit_2(args, message, tmp_path, capsys):
    from fipo_bench.cli import main

    (tmp_path / "bad.duckdb").write_text("x")
    Store(tmp_path / "ok.duckdb")
    code = main(["dashboard", *[a.format(tmp=tmp_path) for a in args]])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_dashboard_on_a_port_in_use_is_one_line_exit_2_before_serving(tmp_path, capsys):
    """Another program listening on the port: the command says so in one line and exits 2,
    without printing the "dashboard on ..." line of a server that never starts."""
    import socket

    from fipo_bench.cli import main

    Store(tmp_path / "ok.duckdb")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code = main(
            ["dashboard", "--db", str(tmp_path / "ok.duckdb"), "--port", str(port),
             "--address", "127.0.0.1"]
        )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert f"--port {port} is already in use" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "dashboard on" not in captured.out


def test_dashboard_finds_its_app_without_a_repo_root(tmp_path):
    """In a source checkout the command serves this checkout's app/; installed as a wheel lays
    it out (fipo_bench/app inside the package, no checkout around it), it serves the
    package's own copy, and the app's pages import their modules relative to their files."""
    import shutil

    from fipo_bench.commands import dashboard as command

    assert command.app_entry() == APP / "Home.py"
    site = tmp_path / "site"
    shutil.copytree(
        ROOT / "fipo_bench", site / "fipo_bench", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(APP, site / "fipo_bench" / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "fipo_bench" / "app" / "__init__.py").write_text("")
    probe = (
        "from fipo_bench.commands.dashboard import app_entry; import sys;"
        "entry = app_entry(); print(entry);"
        "sys.path.insert(0, str(entry.parent)); import fipo_dash.links, fipo_dash.status;"
        "print(fipo_dash.links.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert out == [
        str(site / "fipo_bench" / "app" / "Home.py"),
        str(site / "fipo_bench" / "app" / "fipo_dash" / "links.py"),
    ]
