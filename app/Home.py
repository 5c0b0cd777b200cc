"""fipo-bench dashboard entry point: `fipo-bench dashboard --db FILE` runs this file.

Pages live in views/ (thin: widgets and layout); data -> HTML/figure logic lives in fipo_dash/
where tests can call it without a browser. Both are found relative to this file, so the app
runs the same from a source checkout and from the installed package.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `streamlit run` adds it; an embedding host may not
    sys.path.insert(0, str(HERE))

import streamlit as st  # noqa: E402

from fipo_dash.links import PAGES  # noqa: E402

st.set_page_config(page_title="fipo-bench", page_icon=":bar_chart:", layout="wide")

TITLES = {
    "runs": "Runs",
    "compare": "Compare",
    "samples": "Samples",
    "trajectory": "Trajectory",
    "training": "Training",
    "export": "Export",
}
# The default page is served at "/" but reserves its own url_path: "home", so that /runs can
# be a hidden alias of it (without one, a link or bookmark to /runs meets Streamlit's "Page not
# found" popup).
pages = [
    st.Page(HERE / PAGES[name], title=title, url_path="home" if name == "runs" else name,
            default=name == "runs")
    for name, title in TITLES.items()
]  # fmt: skip
pages.append(st.Page(HERE / PAGES["runs"], title="Runs", url_path="runs", visibility="hidden"))
st.navigation(pages).run()
