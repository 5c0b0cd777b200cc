"""Problem sources: the registry, file/hub loaders, and the repair of real-data defects."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fipo_bench.errors import ConfigError, DataError, FipoBenchError
from fipo_bench.tasks import DATASETS, Problem, default_prompt, load_problems
from fipo_bench.tasks.prompts import render_prompt
from fipo_bench.tasks.repair import normalize_answer, repair_escapes

# registry name -> (file in ../shared/data/benchmarks, number of distinct problems)
REAL_FILES = {
    "aime24": ("aime24.jsonl", 30),
    "aime25": ("aime25.jsonl", 30),
    "amc23": ("amc23.jsonl", 40),
    "math500": ("math500.jsonl", 500),
    "dapo-aime24": ("dapo_aime2024_x32.parquet", 30),
}
MANGLING_CONTROLS = re.compile(r"[\x07\x08\x0b\x0c]")


def one_line_error(excinfo: pytest.ExceptionInfo[FipoBenchError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, f"user-facing errors are one line: {message!r}"
    return message


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def real(shared: Path, name: str) -> list[Problem]:
    return load_problems(name, data_file=str(shared / REAL_FILES[name][0]))


# ------------------------------------------------------------------ real benchmark files


@pytest.mark.parametrize("name", list(REAL_FILES))
def test_every_real_file_loads_into_unique_clean_problems(shared_benchmarks: Path, name: str):
    problems = real(shared_benchmarks, name)
    assert len(problems) == REAL_FILES[name][1]
    assert len({p.problem_id for p in problems}) == len(problems), "problem ids are unique"
    for p in problems:
        assert p.dataset == name
        assert p.problem.strip() and isinstance(p.answer, str) and p.answer.strip()
        assert not MANGLING_CONTROLS.search(p.problem), f"{p.problem_id}: control char left"


@pytest.mark.parametrize("name", list(REAL_FILES))
def test_a_real_file_loads_the_same_by_path_under_its_file_stem(shared_benchmarks: Path, name):
    path = shared_benchmarks / REAL_FILES[name][0]
    by_name = real(shared_benchmarks, name)
    by_path = load_problems(str(path))
    assert {p.dataset for p in by_path} == {path.stem}
    assert [(p.problem_id, p.problem, p.answer) for p in by_path] == [
        (p.problem_id, p.problem, p.answer) for p in by_name
    ]


def test_aime25_form_feeds_become_frac(shared_benchmarks: Path):
    problems = real(shared_benchmarks, "aime25")
    for row in (18, 27):
        text = problems[row].problem
        assert "\x0c" not in text
        assert "\\frac{" in text
    assert problems[18].problem.count("\\frac{\\log") == 5  # every mangled \frac in the product
    assert "$\\frac{m}{n}$" in problems[27].problem


def test_aime25_tab_before_riangle_becomes_triangle(shared_benchmarks: Path):
    text = real(shared_benchmarks, "aime25")[19].problem
    assert "\t" not in text
    assert "The circumcircle of $\\triangle DEF$" in text


def test_math500_real_tabs_are_kept(shared_benchmarks: Path):
    """Row 17 indents Asymptote code with a TAB, row 426 separates words with TABs: neither is a
    mangled escape ("\\treturn", "\\tequal" are not LaTeX commands, and they are not in math)."""
    problems = real(shared_benchmarks, "math500")
    assert "{\n\treturn 2*sin(3*x + pi) + 1;\n}" in problems[17].problem
    assert "have\tequal\tperimeters.\tThe area" in problems[426].problem


def test_solution_text_in_meta_is_repaired_but_real_whitespace_kept(shared_benchmarks: Path):
    aime24 = real(shared_benchmarks, "aime24")
    assert (
        "$\t\nConnect the center" in aime24[12].meta["fields"]["solution"]
    )  # TAB before newline: real


def test_zero_padded_answers_are_stored_as_given(shared_benchmarks: Path):
    from math_verify import parse, verify

    answers = [p.answer for p in real(shared_benchmarks, "aime24")]
    assert answers[7] == "025" and "073" in answers
    # Keeping "025" costs nothing: the verifier judges it equal to 25.
    assert verify(parse("025"), parse("25"))


def test_integer_and_float_answers_become_plain_integers(shared_benchmarks: Path):
    aime25 = real(shared_benchmarks, "aime25")
    amc23 = real(shared_benchmarks, "amc23")
    assert aime25[0].answer == "70"
    assert amc23[0].answer == "27"
    assert all(re.fullmatch(r"-?\d+", p.answer) for p in aime25 + amc23)
    assert any(p.answer == "-1" for p in amc23)


def test_math500_latex_answers_are_kept_verbatim(shared_benchmarks: Path):
    problems = real(shared_benchmarks, "math500")
    assert problems[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert problems[0].problem_id == "test/precalculus/807.json"
    assert problems[4].answer == "\\text{Evelyn}"
    assert problems[0].meta["fields"] == {
        "solution": problems[0].meta["fields"]["solution"],
        "subject": "Precalculus",
        "level": 2,
    }


def test_dapo_parquet_collapses_32_copies_into_30_problems(shared_benchmarks: Path):
    path = shared_benchmarks / "dapo_aime2024_x32.parquet"
    rows = pq.read_table(path).to_pylist()
    problems = real(shared_benchmarks, "dapo-aime24")
    assert len(rows) == 960 and len(problems) == 30
    assert all(p.meta["copies"] == 32 for p in problems)
    # problem_id is the verl extra_info.index of the rows that carry that problem
    index_of = {r["extra_info"]["raw_problem"]: str(r["extra_info"]["index"]) for r in rows}
    gold_of = {r["extra_info"]["raw_problem"]: r["reward_model"]["ground_truth"] for r in rows}
    for p in problems:
        assert p.problem_id == index_of[p.problem]
        assert p.answer == gold_of[p.problem]
    assert {p.problem_id for p in problems} == {str(i) for i in range(30)}
    assert [p.problem_id for p in problems] == [
        p.problem_id for p in real(shared_benchmarks, "dapo-aime24")
    ]


def test_dapo_and_qwen_aime24_agree_on_the_gold_answers(shared_benchmarks: Path):
    dapo = real(shared_benchmarks, "dapo-aime24")
    qwen = real(shared_benchmarks, "aime24")
    assert sorted(int(p.answer) for p in dapo) == sorted(int(p.answer) for p in qwen)


def test_limit_keeps_the_first_problems_in_source_order(shared_benchmarks: Path):
    path = str(shared_benchmarks / "math500.jsonl")
    first = load_problems("math500", data_file=path, limit=5)
    assert [p.problem_id for p in first] == [p.problem_id for p in load_problems(path)[:5]]


# ------------------------------------------------------------------ small files the tests write


def test_jsonl_field_names_and_answer_types_are_detected(tmp_path: Path):
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"question": "1+1?", "Answer": 2, "source": "a"},
            {"question": "Half of 55?", "Answer": 27.5},
            {"question": "Pad?", "Answer": "007"},
        ],
    )
    problems = load_problems(str(path))
    assert [p.problem_id for p in problems] == ["0", "1", "2"]  # positions when rows carry no id
    assert [p.answer for p in problems] == ["2", "27.5", "007"]
    assert problems[0].dataset == "mine"
    assert problems[0].meta["source"] == f"file:{path}"
    assert problems[0].meta["fields"] == {"source": "a"}  # row fields never clobber loader keys


def test_blank_lines_do_not_shift_positional_ids_or_break_line_numbers(tmp_path: Path):
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"problem": "a", "answer": 1}\n\n{"problem": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        load_problems(str(path))
    assert "gaps.jsonl line 3" in one_line_error(excinfo)


def test_json_array_and_json_lines_under_a_json_suffix(tmp_path: Path):
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"Problem": "x?", "Answer": "1", "id": 7}]), encoding="utf-8")
    lines = write_jsonl(tmp_path / "lines.json", [{"problem": "y?", "answer": 3}] * 2)
    (p,) = load_problems(str(array))
    assert (p.problem_id, p.problem, p.answer) == ("7", "x?", "1")
    (q,) = load_problems(str(lines))  # two identical rows without id: one problem, 2 copies
    assert q.meta["copies"] == 2


def test_registry_name_with_data_file_names_problems_after_the_registry(tmp_path: Path):
    path = write_jsonl(tmp_path / "copy.jsonl", [{"problem": "p", "answer": "5", "id": 1}])
    (p,) = load_problems("aime24", data_file=str(path))
    assert (p.dataset, p.problem_id) == ("aime24", "1")


def write_verl(path: Path, rows: list[tuple[int, str, str]], *, raw: bool = True) -> Path:
    wrapped = [render_prompt(Problem("x", str(i), text, gold), "dapo") for i, text, gold in rows]
    table = pa.Table.from_pylist(
        [
            {
                "data_source": "math_dapo",
                "prompt": [{"role": "user", "content": w}],
                "ability": "MATH",
                "reward_model": {"ground_truth": gold, "style": "rule"},
                "extra_info": {"index": i, **({"raw_problem": text} if raw else {})},
            }
            for (i, text, gold), w in zip(rows, wrapped, strict=True)
        ]
    )
    pq.write_table(table, path)
    return path


def test_verl_parquet_dedupes_repeats_and_keeps_the_index_as_id(tmp_path: Path):
    rows = [(5, "Find x.", "3"), (2, "Find y.", "\\frac{1}{2}")] * 3
    problems = load_problems(str(write_verl(tmp_path / "v.parquet", rows)))
    assert [(p.problem_id, p.problem, p.answer) for p in problems] == [
        ("5", "Find x.", "3"),
        ("2", "Find y.", "\\frac{1}{2}"),
    ]
    assert all(p.meta["copies"] == 3 for p in problems)


def test_verl_rows_without_raw_problem_are_unwrapped_from_the_dapo_prompt(tmp_path: Path):
    """DAPO-Math-17k stores only the wrapped prompt; the problem must not be wrapped twice."""
    path = write_verl(tmp_path / "17k.parquet", [(0, "What is $2^{10}$?", "1024")], raw=False)
    (p,) = load_problems(str(path))
    assert p.problem == "What is $2^{10}$?"
    assert render_prompt(p, "dapo") == p.meta["source_prompt"]


# ------------------------------------------------------------------ bad input


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(DataError) as excinfo:
        load_problems("aime2024")
    message = one_line_error(excinfo)
    assert "'aime2024'" in message
    assert all(name in message for name in DATASETS)


def test_missing_file_is_named(tmp_path: Path):
    with pytest.raises(DataError) as excinfo:
        load_problems(str(tmp_path / "nope.jsonl"))
    assert "nope.jsonl: file not found" in one_line_error(excinfo)


def test_missing_data_file_for_a_registry_name(tmp_path: Path):
    with pytest.raises(DataError, match="file not found"):
        load_problems("math500", data_file=str(tmp_path / "gone.parquet"))


def test_unsupported_data_file_suffix_lists_the_supported_ones(tmp_path: Path):
    (tmp_path / "a.csv").write_text("problem,answer\n1+1,2\n", encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        load_problems("aime24", data_file=str(tmp_path / "a.csv"))
    assert ".jsonl, .json, .parquet" in one_line_error(excinfo)


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["zero-bytes", "blank-lines"])
def test_empty_file_is_rejected(tmp_path: Path, content: str):
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        load_problems(str(path))
    assert "empty.jsonl" in one_line_error(excinfo)


def test_parquet_with_zero_rows_is_rejected(tmp_path: Path):
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"problem": pa.array([], pa.string()), "answer": []}), path)
    with pytest.raises(DataError, match="no rows"):
        load_problems(str(path))


def test_a_directory_is_not_a_data_file(tmp_path: Path):
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        load_problems(str(tmp_path / "dir.jsonl"))


def test_unreadable_parquet_is_a_data_error(tmp_path: Path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(DataError) as excinfo:
        load_problems(str(path))
    assert "broken.parquet: not a readable parquet file" in one_line_error(excinfo)


def test_non_utf8_json_is_a_data_error(tmp_path: Path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"problem": "caf\xe9", "answer": 1}\n'.encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_problems(str(path))


def test_invalid_json_line_names_the_line(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"problem": "a", "answer": 1}\n{"problem": "b", answer: 2}\n', "utf-8")
    with pytest.raises(DataError) as excinfo:
        load_problems(str(path))
    assert "bad.jsonl line 2: not valid JSON" in one_line_error(excinfo)


def test_a_row_that_is_not_an_object_names_the_line(tmp_path: Path):
    path = tmp_path / "list.jsonl"
    path.write_text('{"problem": "a", "answer": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"list\.jsonl line 2: row is list"):
        load_problems(str(path))


@pytest.mark.parametrize(
    ("second_row", "expected"),
    [
        ({"problem": "b"}, "line 2: no 'answer' field"),
        ({"problem": "b", "answer": None}, "line 2: answer is None"),
        ({"problem": "b", "answer": "  "}, "line 2: answer is empty"),
        ({"problem": "b", "answer": True}, "line 2: answer is True"),
        ({"problem": "b", "answer": [1, 2]}, "line 2: answer has type list"),
        ({"answer": 3}, "line 2: problem field 'problem' is missing"),
        ({"problem": "   ", "answer": 3}, "line 2: problem field 'problem' is str"),
    ],
)
def test_a_row_without_problem_or_answer_names_file_and_line(tmp_path, second_row, expected):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"problem": "a", "answer": 1}, second_row])
    with pytest.raises(DataError) as excinfo:
        load_problems(str(path))
    message = one_line_error(excinfo)
    assert message.startswith("rows.jsonl line 2:")
    assert expected in message


def test_a_file_without_any_problem_field_lists_the_accepted_names(tmp_path: Path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"text": "a", "answer": 1}])
    with pytest.raises(DataError) as excinfo:
        load_problems(str(path))
    assert "no problem field; expected one of problem, question" in one_line_error(excinfo)


def test_verl_row_without_ground_truth_names_the_row(tmp_path: Path):
    path = tmp_path / "v.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "prompt": [{"role": "user", "content": "a"}],
                    "reward_model": {"ground_truth": "1"},
                },
                {"prompt": [{"role": "user", "content": "b"}], "reward_model": {"style": "x"}},
            ]
        ),
        path,
    )
    with pytest.raises(DataError, match=r"v\.parquet row 1: no reward_model\.ground_truth"):
        load_problems(str(path))


def test_an_id_reused_for_a_different_problem_is_rejected(tmp_path: Path):
    path = write_jsonl(
        tmp_path / "ids.jsonl",
        [{"id": 1, "problem": "a", "answer": 1}, {"id": 1, "problem": "b", "answer": 2}],
    )
    with pytest.raises(DataError) as excinfo:
        load_problems(str(path))
    assert "ids.jsonl line 2: problem id '1' already used at ids.jsonl line 1" in one_line_error(
        excinfo
    )


@pytest.mark.parametrize("limit", [0, -3, True, 2.0])
def test_limit_must_be_a_positive_integer(tmp_path: Path, limit):
    path = write_jsonl(tmp_path / "ok.jsonl", [{"problem": "a", "answer": 1}])
    with pytest.raises(ConfigError) as excinfo:
        load_problems(str(path), limit=limit)
    assert f"got {limit!r}" in one_line_error(excinfo)


def test_split_is_refused_for_a_local_file_instead_of_ignored(tmp_path: Path):
    path = write_jsonl(tmp_path / "ok.jsonl", [{"problem": "a", "answer": 1}])
    with pytest.raises(ConfigError, match="--split 'test'"):
        load_problems(str(path), split="test")
    with pytest.raises(ConfigError, match="--split 'test'"):
        load_problems("aime24", data_file=str(path), split="test")


def test_data_file_with_a_file_path_is_refused(tmp_path: Path):
    path = write_jsonl(tmp_path / "ok.jsonl", [{"problem": "a", "answer": 1}])
    with pytest.raises(ConfigError, match="goes with a registry name"):
        load_problems(str(path), data_file=str(path))


# ------------------------------------------------------------------ hub and synthetic sources

HUB_SCRIPT = textwrap.dedent(
    """
    import sys
    from fipo_bench.errors import DataError
    from fipo_bench.tasks import load_problems
    from fipo_bench.tasks.loaders import read_hub_rows, rows_to_problems

    try:
        load_problems("aime25")
    except DataError as err:
        print("ERROR", err)
    # `datasets` resolves a local folder like a hub id: the same code path, no network.
    rows = read_hub_rows(sys.argv[1], config=None, split="test")
    problems = rows_to_problems(rows, dataset="aime25", source="hub:local")
    print("OK", [(p.problem_id, p.answer) for p in problems])
    try:
        read_hub_rows(sys.argv[1], config=None, split="train")
    except DataError as err:
        print("SPLIT", err)
    """
)


def test_hub_loading_works_through_datasets_and_fails_offline_with_a_hint(tmp_path: Path):
    pytest.importorskip("datasets", reason="the 'hub' extra (datasets) is not installed")
    folder = tmp_path / "hubcopy"
    (folder / "data").mkdir(parents=True)
    write_jsonl(folder / "data" / "test.jsonl", [{"problem": "2+3?", "answer": 5, "id": "0"}])
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",  # what a machine without network sees, without 30 s of retries
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"),
    }
    result = subprocess.run(
        [sys.executable, "-c", HUB_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines()}
    assert lines["ERROR"].startswith("hub:yentinglin/aime_2025[train]: could not load")
    assert lines["ERROR"].endswith("pass --data-file with a local .jsonl/.parquet copy")
    assert lines["OK"] == "[('0', '5')]"
    assert "hub:" in lines["SPLIT"] and "--data-file" in lines["SPLIT"]


def test_synthetic_comes_from_the_generator_and_uses_the_raw_prompt():
    problems = load_problems("synthetic", limit=4)
    assert len(problems) == 4
    assert all(p.dataset == "synthetic" and p.answer for p in problems)
    assert default_prompt("synthetic") == "raw"
    assert [p.problem_id for p in problems] == [
        p.problem_id for p in load_problems("synthetic", split="test")[:4]
    ]


def test_registry_entries_are_complete():
    assert set(DATASETS) == {"aime24", "aime25", "amc23", "math500", "dapo-aime24", "synthetic"}
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.split and spec.description
        assert (spec.hub_id is None) == (name == "synthetic")
        assert default_prompt(name) == ("raw" if name == "synthetic" else "dapo")


# ------------------------------------------------------------------ repair rules


def mangle(latex: str) -> str:
    """What a JSON or Python string decoder makes of LaTeX written without doubled backslashes:
    \\f \\t \\b \\r \\v \\a become control characters (other backslashes survive in Python)."""
    controls = {"f": "\x0c", "t": "\t", "b": "\x08", "r": "\r", "v": "\x0b", "a": "\x07"}
    return re.sub(r"\\([ftbrva])", lambda m: controls[m.group(1)], latex)


@pytest.mark.parametrize(
    "latex",
    [
        "$\\frac{1}{2}$",
        "$\\triangle ABC$",
        "$\\times 3$",
        "$\\theta$",
        "$\\tan x$",
        "$\\tfrac12$",
        "$\\text{cm}$",
        "$\\left( x \\right)$",
        "$\\rho$",
        "$\\rangle$",
        "$\\binom{5}{2}$",
        "$\\beta$",
        "$\\boxed{7}$",
        "\\[\\rfloor\\]",
        "\\(\\to\\)",
        "\\begin{align*} a &\\times b \\end{align*}",
        "\\textbf{Note:} x",
    ],
)
def test_mangled_escapes_are_restored(latex: str):
    mangled = mangle(latex)
    assert mangled != latex, "the example must actually be mangled by a JSON reader"
    assert repair_escapes(mangled) == latex


def test_python_only_escapes_are_restored():
    # \v and \a are not JSON escapes but Python ones: "\vec" and "\alpha" written in Python.
    assert repair_escapes("$\x0bec{v} + \x07lpha$") == "$\\vec{v} + \\alpha$"


@pytest.mark.parametrize(
    "text",
    [
        "have\tan\tidea",  # prose: \tan only counts inside math
        "$x$ and\ttimes",  # TAB outside math even though "times" is a command
        "costs \\$5\tto buy",  # an escaped dollar does not open math
        "$a\tequal b$",  # inside math but "tequal" is not a command
        "line\r\nnext",  # Windows line ending
        "\x0c 12",  # a stray form feed before no letters has no command to restore
        "$x$\t\nnext",
    ],
)
def test_real_whitespace_is_not_mistaken_for_an_escape(text: str):
    assert repair_escapes(text) == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc",))))
def test_text_without_control_characters_is_unchanged(text: str):
    assert repair_escapes(text) == text


@given(st.text(alphabet=st.sampled_from(list("$\\{} aftbrvxinoeghl\t\r\x0c\x08\x0b\x07"))))
def test_repair_is_idempotent(text: str):
    once = repair_escapes(text)
    assert repair_escapes(once) == once


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("025", "025"),
        (70, "70"),
        (27.0, "27"),
        (-1.0, "-1"),
        (27.5, "27.5"),
        (0.1, "0.1"),
        ("\\frac{14}{3}", "\\frac{14}{3}"),
        (" 42\n", "42"),
        ("\x0crac{1}{2}", "\\frac{1}{2}"),
    ],
)
def test_answers_are_normalised_to_text(value, expected):
    assert normalize_answer(value, where="f.jsonl line 1") == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, False, "", {"a": 1}])
def test_unusable_answers_are_data_errors_naming_the_row(value):
    with pytest.raises(DataError) as excinfo:
        normalize_answer(value, where="f.jsonl line 9")
    assert one_line_error(excinfo).startswith("f.jsonl line 9: answer")


def test_a_deeply_nested_json_line_is_a_data_error_naming_the_line(tmp_path: Path):
    """200 KB of brackets make json recurse past Python's limit: one DataError, no
    RecursionError."""
    path = tmp_path / "nested.jsonl"
    ok = json.dumps({"problem": "p", "answer": "1"})
    path.write_text(ok + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match=r"^nested\.jsonl line 2: JSON nested too deeply"):
        load_problems(str(path))
    array = tmp_path / "nested.json"
    array.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match="nested too deeply"):
        load_problems(str(array))
