"""`fipo-bench verify`: judge responses against golds and say why (the marker, the rule).

    fipo-bench verify --gold 025 --response out.txt      # one response (a file, or - for stdin)
    fipo-bench verify --jsonl cases.jsonl                 # one {"gold", "response"} per line
    fipo-bench verify --jsonl cases.jsonl --baseline      # beside plain math-verify's verdict

The command a researcher runs when a score looks wrong: it prints the extracted answer, the
verdict, the status, where the answer came from (box, answer line, raw) and which rule decided.
A "correct" field in a JSONL line, when present, is compared with the verdict.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from fipo_bench.errors import ConfigError, DataError

MAX_INPUT_BYTES = 64 * 1024 * 1024


def verify_command(
    gold: Annotated[
        str | None, typer.Option("--gold", help="The reference answer (with --response).")
    ] = None,
    response: Annotated[
        str | None,
        typer.Option("--response", help="File holding one model response, or - for stdin."),
    ] = None,
    jsonl: Annotated[
        str | None,
        typer.Option("--jsonl", help='File of {"gold": ..., "response": ...} lines.'),
    ] = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", help="Seconds math-verify may spend per item.")
    ] = 5.0,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Verifier processes (default: CPUs, <= 4).")
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="Also show plain math-verify's verdict for each item."),
    ] = False,
) -> None:
    """Judge responses and print the extracted answer, verdict, status and why."""
    items, expected = _read_items(gold, response, jsonl)
    from rich.console import Console

    from fipo_bench.verify import check_many

    results = check_many(items, timeout_s=timeout_s, workers=workers)
    plain = None
    if baseline:
        from fipo_bench.verify.baseline import plain_verdicts

        plain = plain_verdicts(items, workers=workers or 2)
    console = Console(highlight=False, soft_wrap=True)
    if jsonl is None:
        _print_one(console, results[0], plain[0] if plain else None)
    else:
        _print_many(console, items, results, expected, plain)


def _read_items(
    gold: str | None, response: str | None, jsonl: str | None
) -> tuple[list[tuple[str, str]], list[bool | None]]:
    if jsonl is not None:
        if gold is not None or response is not None:
            raise ConfigError(
                "--jsonl judges a whole file: drop --gold/--response, or drop --jsonl"
            )
        return _read_jsonl(Path(jsonl))
    if gold is None or response is None:
        raise ConfigError(
            "give --gold G and --response FILE (or - for stdin), or --jsonl FILE for many"
        )
    if not gold.strip():
        raise ConfigError("--gold is empty: give the reference answer, e.g. --gold 025")
    text = sys.stdin.read() if response == "-" else _read_text(Path(response), "--response")
    return [(gold, text)], [None]


def _read_text(path: Path, flag: str) -> str:
    if not path.is_file():
        raise DataError(f"{flag} {str(path)!r} is not a readable file")
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise DataError(f"{flag} {str(path)!r} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{flag} {str(path)!r} is not UTF-8 text (byte {exc.start})") from None


def _read_jsonl(path: Path) -> tuple[list[tuple[str, str]], list[bool | None]]:
    items: list[tuple[str, str]] = []
    expected: list[bool | None] = []
    for number, line in enumerate(_read_text(path, "--jsonl").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise DataError(f"--jsonl {str(path)!r} line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise DataError(f"--jsonl {str(path)!r} line {number} is not a JSON object")
        for field in ("gold", "response"):
            if not isinstance(row.get(field), str):
                raise DataError(
                    f"--jsonl {str(path)!r} line {number}: {field!r} must be a string"
                    f" (got {type(row.get(field)).__name__})"
                )
        if "correct" in row and not isinstance(row["correct"], bool):
            raise DataError(f"--jsonl {str(path)!r} line {number}: 'correct' must be true/false")
        items.append((row["gold"], row["response"]))
        expected.append(row.get("correct"))
    if not items:
        raise DataError(f"--jsonl {str(path)!r} has no lines to judge")
    return items, expected


def _verdict(correct: bool | None) -> str:
    return {True: "correct", False: "incorrect", None: "no verdict (killed)"}[correct]


def _why(result) -> str:
    """Where the answer came from and which rule judged it, in words."""
    where = {
        "box": f"from the last {result.marker or 'box'}",
        "answer_line": f"from the answer marker {result.marker!r}",
        "raw": "no answer marker: raw protocol (the value the last sentence with math states)",
        "none": "no answer marker and no math to read",
    }[result.source]
    return f"{where}; decided by {result.rule}" if result.rule else where


def _print_one(console, result, plain: bool | None) -> None:
    console.print(f"extracted  {result.extracted if result.extracted is not None else '(none)'}")
    console.print(f"verdict    {_verdict(result.correct)}")
    console.print(f"status     {result.status}")
    console.print(f"source     {result.source}")
    console.print(f"why        {_why(result)}")
    if plain is not None:
        console.print(f"plain math-verify  {_verdict(plain)}")


def _print_many(console, items, results, expected, plain) -> None:
    from rich.table import Table

    table = Table("#", "gold", "extracted", "verdict", "status", "source", "rule")
    if plain is not None:
        table.add_column("plain math-verify")
    if any(value is not None for value in expected):
        table.add_column("expected")
    for index, ((gold, _), result) in enumerate(zip(items, results, strict=True)):
        row = [
            str(index + 1),
            _short(gold),
            _short(result.extracted if result.extracted is not None else "(none)"),
            _verdict(result.correct),
            result.status,
            result.source,
            result.rule,
        ]
        if plain is not None:
            row.append(_verdict(plain[index]))
        if any(value is not None for value in expected):
            row.append("" if expected[index] is None else _verdict(expected[index]))
        table.add_row(*row)
    console.print(table)
    n = len(results)
    sources = Counter(result.source for result in results)
    console.print(
        f"{sum(r.correct for r in results)}/{n} correct; answers from "
        + ", ".join(f"{name} {count}" for name, count in sorted(sources.items()))
    )
    judged = [(r.correct, e) for r, e in zip(results, expected, strict=True) if e is not None]
    if judged:
        agree = sum(got == want for got, want in judged)
        console.print(f"agrees with 'correct' on {agree}/{len(judged)}")
        if plain is not None:
            plain_agree = sum(
                bool(p) == e for p, e in zip(plain, expected, strict=True) if e is not None
            )
            console.print(f"plain math-verify agrees with 'correct' on {plain_agree}/{len(judged)}")


def _short(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
