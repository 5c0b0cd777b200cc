"""The client side of a heatmap panel: one <script> carrying the token markup and the hover
values as one JSON object, and a few lines of JS that insert the markup and fill a single
tooltip on mouseover.

Why the markup travels inside the script: Streamlit passes every `st.html` body through
DOMPurify, whose per-element JS walk cost about a second for 20,000 token spans on the shared
box (Chrome trace: ~1.1 s in one React commit, only 80 ms of it HTML parsing). Inside a JSON
string the spans are one text node to DOMPurify, and the browser's native parser builds them
via innerHTML in tens of milliseconds. The markup is still built and escaped in Python
(heatmap.py), so the page is exactly as safe as the escaping there, which the tests check.

Why no `title` per token: the hover text was ~70% of a 3 MB page. One array per value column
keeps every token's details (position, text, all values, pivot marks) at a fraction of that.

The JS contains no `<` at all (JSON escapes it as \\u003c): DOMPurify's SAFE_FOR_XML check
drops a <script> whose text looks like markup.
"""

from __future__ import annotations

import json
import re

import numpy as np

# Markup-looking text: DOMPurify drops a <script> element whose text contains it.
MARKUP_LIKE = re.compile(r"<[/\w!]")

# Called with the panel's data d. Streamlit re-creates the script in place, so currentScript
# sits inside its .fipo-traj panel. The panel's .tok elements are numbered once, on the first
# hover; the tooltip is one element per panel.
PANEL_JS = """
(function (d) {
  var s = document.currentScript, root = s ? s.closest('.fipo-traj') : null;
  if (!root) return;
  var box = root.querySelector('.toks'), tip = root.querySelector('.tip'), toks = null;
  box.innerHTML = d.html;
  function index(el) {
    if (toks === null) {
      toks = box.getElementsByClassName('tok');
      for (var i = 0; i !== toks.length; i++) toks[i].fipoIndex = i;
    }
    return el.fipoIndex;
  }
  box.addEventListener('mouseover', function (e) {
    var el = e.target.closest ? e.target.closest('.tok') : null;
    if (!el) return;
    var i = index(el), pos = d.pos0 === null ? d.pos[i] : d.pos0 + i;
    var lines = ['#' + pos + ' ' + JSON.stringify(el.textContent)];
    for (var c = 0; c !== d.names.length; c++) {
      var v = d.values[c][i];
      lines.push(d.names[c] + ' ' + (v === null ? '-' : v));
    }
    var mark = d.pivots[String(pos)];
    if (mark) lines.push('pivot: ' + mark);
    tip.textContent = lines.join('\\n');
    var r = el.getBoundingClientRect(), o = root.getBoundingClientRect();
    tip.style.left = Math.max(0, r.left - o.left) + 'px';
    tip.style.top = (r.bottom - o.top + 4) + 'px';
    tip.hidden = false;
  });
  box.addEventListener('mouseleave', function () { tip.hidden = true; });
})
"""

_CALL = re.compile(r"<script>\(function \(d\) \{.*?\}\)\((\{.*?\})\);</script>", re.S)


def js_array(values: np.ndarray) -> str:
    """A JSON array of the values at 3 significant digits (what the hover shows), null where a
    value is missing or not finite; built as text, several times faster than json.dumps of
    120,000 rounded floats."""
    finite = np.isfinite(values)
    return (
        "["
        + ",".join(
            f"{v:.3g}" if ok else "null"
            for v, ok in zip(values.tolist(), finite.tolist(), strict=True)
        )
        + "]"
    )


def panel_script(
    tokens_markup: str,
    names: tuple[str, ...],
    columns: list[np.ndarray],
    positions: list[int],
    pivot_marks: dict[int, str],
) -> str:
    """The <script> that fills and wires the .fipo-traj panel it sits in.

    tokens_markup: the panel's token spans, already escaped. columns[c][i]: value `names[c]`
    of the i-th token span. positions: the tokens' stored pos (sent as a start offset when
    contiguous, the common case). pivot_marks: hover line per pivot pos.
    """
    contiguous = bool(positions) and positions == list(
        range(positions[0], positions[0] + len(positions))
    )
    meta = {
        "html": tokens_markup,
        "names": list(names),
        "pos0": positions[0] if contiguous else None,
        "pos": [] if contiguous else positions,
        "pivots": {str(p): m for p, m in pivot_marks.items()},
    }
    head = json.dumps(meta, separators=(",", ":"))
    payload = head[:-1] + ',"values":[' + ",".join(js_array(c) for c in columns) + "]}"
    # \u003c for every "<": nothing inside the script looks like markup (or ends it early).
    payload = payload.replace("<", "\\u003c")
    return f"<script>{PANEL_JS.strip()}({payload});</script>"


def panel_data(body: str) -> list[dict]:
    """The data objects of the panel scripts in an HTML body (for tests and tools)."""
    return [json.loads(m) for m in _CALL.findall(body)]
