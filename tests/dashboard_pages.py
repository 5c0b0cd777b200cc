"""What a dashboard page drew, for the tests: pages run under Streamlit's AppTest through
Home.py's navigation (as the server runs them), their HTML and the heatmaps' token spans."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
if str(APP) not in sys.path:  # the app's own modules, as `streamlit run app/Home.py` sees them
    sys.path.insert(0, str(APP))

TOKEN_SPAN = re.compile(r'<span class="tok[ "]')


def run_page(
    page: str, db: Path, monkeypatch, *, check: bool = True, timeout_s: float = 180, **query: str
):
    """Load `page` (a views/ script, or Home.py) with these query parameters on database `db`.
    check: fail on a page exception (else the caller looks at at.exception)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FIPO_BENCH_DB", str(db))
    at = AppTest.from_file(str(APP / "Home.py"), default_timeout=timeout_s)
    for key, value in query.items():
        at.query_params[key] = value
    if page != "Home.py":
        at.switch_page(page)
    at.run()
    if check:
        assert not at.exception, [e.value for e in at.exception]
    return at


def page_html(at) -> str:
    return "".join(h.proto.body for h in at.html)


def token_markup(body: str) -> str:
    """The token spans of every heatmap panel in a page body: each panel's script carries
    them in its JSON object (heatmap_js.py) and inserts them in the browser."""
    from fipo_dash.heatmap_js import panel_data

    return "".join(d["html"] for d in panel_data(body))


def widget(at, kind: str, label: str):
    """The page's widget of this kind with this label (keys that name a run/step change)."""
    return next(w for w in getattr(at, kind) if w.label == label)
