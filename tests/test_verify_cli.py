"""`fipo-bench verify`: what a researcher sees when a score looks wrong, and its bad inputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fipo_bench.cli import main


def _lines(text: str) -> dict[str, str]:
    return {
        key: value.strip()
        for key, _, value in (line.partition(" ") for line in text.splitlines())
        if value
    }


def test_one_response_prints_answer_verdict_status_source_and_why(tmp_path: Path, capsys) -> None:
    response = tmp_path / "out.txt"
    response.write_text("Let me verify my answer: 3 + 4 = 7 ... so \\boxed{12}.", encoding="utf-8")
    assert main(["verify", "--gold", "12", "--response", str(response)]) == 0
    shown = _lines(capsys.readouterr().out)
    assert shown["extracted"] == "12"
    assert shown["verdict"] == "correct"
    assert shown["status"] == "ok"
    assert shown["source"] == "box"
    assert shown["why"] == "from the last \\boxed; decided by integer comparison"


def test_response_from_stdin_with_the_plain_math_verify_verdict(monkeypatch, capsys) -> None:
    """'-' reads stdin; --baseline adds plain math-verify's own verdict (run for real)."""
    monkeypatch.setattr("sys.stdin", io.StringIO("Final Answer: The largest $n$ is 34."))
    assert main(["verify", "--gold", "34", "--response", "-", "--baseline"]) == 0
    shown = _lines(capsys.readouterr().out)
    assert (shown["extracted"], shown["verdict"], shown["source"]) == (
        "34",
        "correct",
        "answer_line",
    )
    assert "from the answer marker 'Final Answer:'" in shown["why"]
    assert shown["plain"] == "math-verify  correct"


def test_jsonl_judges_every_line_and_counts_agreement_with_correct(tmp_path: Path, capsys) -> None:
    rows = [
        {"gold": "025", "response": "Answer: 25", "correct": True},
        {"gold": "\\$18.90", "response": "Answer: \\$18.90", "correct": True},
        {"gold": "204", "response": "Answer: 204 or 205", "correct": False},
        {"gold": "7", "response": "I could not solve it."},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    assert main(["verify", "--jsonl", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2/4 correct; answers from answer_line 3, none 1" in out
    assert "agrees with 'correct' on 3/3" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--gold", "1"], "give --gold G and --response FILE"),
        (["verify", "--response", "-"], "give --gold G and --response FILE"),
        (["verify", "--gold", " ", "--response", "-"], "--gold is empty"),
        (
            ["verify", "--gold", "1", "--response", "MISSING"],
            "--response 'MISSING' is not a readable",
        ),
        (["verify", "--jsonl", "MISSING"], "--jsonl 'MISSING' is not a readable file"),
        (["verify", "--gold", "1", "--jsonl", "x.jsonl"], "--jsonl judges a whole file"),
        (
            ["verify", "--gold", "1", "--response", "-", "--timeout-s", "0"],
            "timeout_s=0.0 is invalid",
        ),
        (["verify", "--gold", "1", "--response", "-", "--workers", "0"], "workers=0 is invalid"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Answer: 1"))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"gold": "1", "response": "Answer: 1"}\nnot json\n', "line 2 is not JSON"),
        (b"[1, 2]\n", "line 1 is not a JSON object"),
        (b'{"gold": "1"}\n', "line 1: 'response' must be a string (got NoneType)"),
        (b'{"gold": 1, "response": "x"}\n', "line 1: 'gold' must be a string (got int)"),
        (b'{"gold": "1", "response": "x", "correct": "yes"}\n', "'correct' must be true/false"),
        (b"\n\n", "has no lines to judge"),
        (b"\xff\xfe\x00bad", "is not UTF-8 text"),
        (b"[" * 100_000 + b"\n", "line 1 is not JSON"),
    ],
)
def test_bad_jsonl_files_exit_2_naming_the_line(content, message, tmp_path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    assert main(["verify", "--jsonl", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
