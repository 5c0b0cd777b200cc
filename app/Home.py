"""fipo-bench dashboard entry point: `fipo-bench dashboard --db FILE` runs this file.

Pages live in app/views/ (thin: widgets and layout); data -> HTML/figure logic lives in
app/fipo_dash/ where tests can call it without a browser.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"

st.set_page_config(page_title="fipo-bench", page_icon=":bar_chart:", layout="wide")

pages = [
    st.Page(VIEWS / "runs.py", title="Runs", url_path="runs", default=True),
    st.Page(VIEWS / "compare.py", title="Compare", url_path="compare"),
    st.Page(VIEWS / "trajectory.py", title="Trajectory", url_path="trajectory"),
    st.Page(VIEWS / "training.py", title="Training", url_path="training"),
    st.Page(VIEWS / "export.py", title="Export", url_path="export"),
]
st.navigation(pages).run()
