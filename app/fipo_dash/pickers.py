"""Eval and run pickers shared by the pages, with their state in the URL, and the notes that
say which chosen evals are still running, were interrupted or hold no samples yet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from fipo_dash.heatmap import SCALARS
from fipo_dash.links import SCALAR, split_ids
from fipo_dash.status import EvalProgress


def url_index(options: Sequence, param: str, default: int = 0) -> int:
    """Index of the URL's `param` among `options` (compared as text: a URL holds strings),
    else `default`: how a selectbox starts where the last visit left it."""
    wanted = st.query_params.get(param)
    texts = [str(o) for o in options]
    return texts.index(wanted) if wanted in texts else default


def choose_scalar(container, *, key: str) -> str:
    """The heatmap's colour-by box, starting at the URL's choice."""
    return container.selectbox("Colour by", SCALARS, index=url_index(SCALARS, SCALAR), key=key)


def option_label(eval_id: str, labels: Mapping[str, str], progress: Mapping) -> str:
    """The eval's name, with its state appended unless it is done."""
    state = progress[eval_id].state
    suffix = "" if state == "done" else f" ({'running?' if state == 'unknown' else state})"
    return labels.get(eval_id, eval_id) + suffix


def default_evals(progress: Mapping[str, EvalProgress], count: int | None) -> list[str]:
    """The newest `count` evals that hold samples (every one for None), finished ones before
    unfinished; an eval that has stored nothing yet is never chosen for the user."""
    stored = [e for e, p in progress.items() if p.stored]
    if count is not None:
        done = [e for e in stored if not progress[e].partial]
        unfinished = [e for e in stored if progress[e].partial]
        picked = done[-count:]
        missing = count - len(picked)
        stored = picked + (unfinished[-missing:] if missing > 0 else [])
    return [e for e in progress if e in stored]  # in stored order, oldest first


def choose_evals(
    title: str,
    labels: Mapping[str, str],
    progress: Mapping[str, EvalProgress],
    *,
    key: str,
    param: str,
    count: int | None = 2,
) -> list[str]:
    """A multiselect of every eval; the URL's `param` wins over the default choice."""
    known = list(labels)
    wanted = [e for e in split_ids(st.query_params.get(param)) if e in known]
    chosen = st.multiselect(
        title,
        known,
        default=wanted or default_evals(progress, count),
        format_func=lambda e: option_label(e, labels, progress),
        key=key,
    )
    st.query_params[param] = ",".join(chosen)
    return chosen


def with_samples(
    chosen: Sequence[str], labels: Mapping[str, str], progress: Mapping[str, EvalProgress]
) -> list[str]:
    """The chosen evals that hold samples. Writes one note per chosen eval that is not done
    (its state and progress) and says which are left out for holding nothing yet."""
    kept = []
    for eval_id in chosen:
        state = progress[eval_id]
        name = labels.get(eval_id, eval_id)
        if not state.stored:
            st.warning(f"{name} has no stored samples yet ({state.text}): left out.")
            continue
        kept.append(eval_id)
        if state.partial:
            st.caption(f":orange[{name}: {state.text}. Its numbers cover the samples so far.]")
    return kept


def evals_with_samples_or_stop(
    title: str,
    labels: Mapping[str, str],
    progress: Mapping[str, EvalProgress],
    *,
    key: str,
    param: str,
    container=None,
) -> list[str]:
    """choose_evals (in `container`, default the page), then with_samples; the page stops with
    a note when none of the chosen evals holds samples."""
    with container if container is not None else st.container():
        chosen = choose_evals(title, labels, progress, key=key, param=param)
    chosen = with_samples(chosen, labels, progress)
    if not chosen:
        st.info("Pick one or more evals with stored samples.")
        st.stop()
    return chosen
