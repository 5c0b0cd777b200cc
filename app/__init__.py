"""The Streamlit dashboard (served by `fipo-bench dashboard`; installed as fipo_bench.app)."""
