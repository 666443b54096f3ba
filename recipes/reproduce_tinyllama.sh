#!/usr/bin/env bash
# The paper's reference configuration on a GPU machine: TinyLlama-1.1B trained with GLPFT (stage-1
# backbone, planner, caller, summarizer, and the single-LLM baseline), evaluated with the suite,
# and exported for vLLM multi-LoRA serving.  Read recipes/README.md first: what it needs, how long
# it should take (an estimate), and that it has NOT been run on a GPU in this project.
#
#   bash recipes/reproduce_tinyllama.sh                     # every step; finished ones are skipped
#   bash recipes/reproduce_tinyllama.sh train eval          # only these steps
#   NUM_GPUS=4 WORK=/scratch/umi BASE_MODEL=/models/TinyLlama-1.1B-Chat-v1.0 bash recipes/reproduce_tinyllama.sh
#
# Steps: install, data, train, eval, export.  Each one can be re-run after a failure or a kill:
# data files are written atomically, a finished training stage is skipped and an interrupted one
# resumes from its last checkpoint, evaluation reuses its generation caches, the export is atomic.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# -- settings (environment variables) -----------------------------------------------------------
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"      # an interpreter whose torch is a CUDA build
WORK="${WORK:-$REPO/out/tinyllama}"             # everything this recipe writes
DATA_ROOT="${DATA_ROOT:-$REPO/../shared/datasets}"  # the public datasets (see `umi data sources`)
BASE_MODEL="${BASE_MODEL:-TinyLlama/TinyLlama-1.1B-Chat-v1.0}"  # a hub id or a local model folder
NUM_GPUS="${NUM_GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}"
ACCELERATE_CONFIG="${ACCELERATE_CONFIG:-}"      # default: single_gpu.yaml, or deepspeed_zero2.yaml for >1 GPU
TRAIN_OVERRIDES="${TRAIN_OVERRIDES:-}"          # extra key=value for every stage, e.g. "packs_per_step=2 grad_accum=4"
SYNTH_N="${SYNTH_N:-20000}"                     # synthetic (executed, verified) trajectories
SYNTH_WORKERS="${SYNTH_WORKERS:-8}"
LIMIT_STATIC="${LIMIT_STATIC:-1000}"            # evaluation sizes (items per benchmark)
LIMIT_PASSRATE="${LIMIT_PASSRATE:-200}"
LIMIT_BFCL="${LIMIT_BFCL:-400}"
LIMIT_APIBENCH="${LIMIT_APIBENCH:-500}"
EXPORT_DTYPE="${EXPORT_DTYPE:-bfloat16}"

PRESET="$REPO/src/multiagentllm/configs/train/tinyllama.yaml"
DEEPSPEED_PIN="deepspeed==0.19.8"               # the `gpu` extra in pyproject.toml
# stage:folder, in chain order (the `stages:` of the preset; a test keeps them in step)
STAGES="stage1_backbone:stage1_backbone stage2_planner:planner stage2_caller:caller stage2_summarizer:summarizer single:single"
DATA="$WORK/data"
SYNTH="$WORK/synth"
CKPT="$WORK/checkpoint"
EVAL="$WORK/eval"
EXPORT="$WORK/vllm"
DONE="$WORK/.done"                              # stamps of finished steps that leave no other mark

if [ -z "$ACCELERATE_CONFIG" ]; then
  if [ "${NUM_GPUS:-0}" -gt 1 ]; then ACCELERATE_CONFIG=configs/accelerate/deepspeed_zero2.yaml
  else ACCELERATE_CONFIG=configs/accelerate/single_gpu.yaml; fi
fi

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
umi() { "$PYTHON" -m multiagentllm.cli "$@"; }
# `umi train` under accelerate: one process per GPU, each running the same `umi train` command
launch() {
  "$PYTHON" -m accelerate.commands.launch --config_file "$ACCELERATE_CONFIG" \
    --num_processes "$NUM_GPUS" -m multiagentllm.cli "$@"
}

step_install() {
  [ -f "$DONE/install" ] && { say "install: done before ($DONE/install)"; return; }
  [ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null || die "$PYTHON not found: create a virtual
  environment (python3 -m venv .venv), install torch into it (see below), or set PYTHON=/path/to/python"
  say "install: requirements and multiagentllm for $PYTHON"
  # torch is left to you: its CUDA build must match your driver
  "$PYTHON" - <<'EOF' || die "install the CUDA build of torch 2.13.0 for $PYTHON first: on Linux x86_64
  the PyPI wheel is one ($PYTHON -m pip install torch==2.13.0); for other CUDA versions see
  https://pytorch.org/get-started/locally/ (keep version 2.13.0)"
import sys
import torch
ok = torch.__version__.split("+")[0] == "2.13.0" and torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
  "$PYTHON" -m pip install -q -r requirements.txt   # its torch==2.13.0 pin accepts the CUDA build
  "$PYTHON" -m pip install -q --no-deps -e .
  case "$ACCELERATE_CONFIG" in *deepspeed*) "$PYTHON" -m pip install -q "$DEEPSPEED_PIN" ;; esac
  mkdir -p "$DONE" && touch "$DONE/install"
}

step_data() {
  if [ -f "$SYNTH/card.md" ]; then say "data: $SYNTH done before"
  else
    say "data: synthesize $SYNTH_N verified trajectories -> $SYNTH"
    umi data synth --out "$SYNTH" --n "$SYNTH_N" --workers "$SYNTH_WORKERS" --data-root "$DATA_ROOT"
  fi
  if [ -f "$DATA/stats.json" ]; then say "data: $DATA done before"
  else
    say "data: build the GLPFT training sets -> $DATA (token counts with $BASE_MODEL's tokenizer)"
    umi data build --out "$DATA" --data-root "$DATA_ROOT" --synthetic "$SYNTH" --skip-bad \
      --tokenizer "$BASE_MODEL"
  fi
}

step_train() {
  [ "${NUM_GPUS:-0}" -ge 1 ] || die "no GPU found (nvidia-smi -L); set NUM_GPUS if it is wrong"
  [ -f "$DATA/stats.json" ] || die "no training data at $DATA: run the data step first"
  local extra=() entry stage folder
  say "train: fetch (or check) $BASE_MODEL once, before $NUM_GPUS process(es) need it"
  "$PYTHON" -c 'import sys; from multiagentllm.models.load import resolve_base; print(resolve_base(sys.argv[1]))' \
    "$BASE_MODEL"
  read -r -a extra <<< "$TRAIN_OVERRIDES"
  # FSDP checkpoints activations itself (see configs/accelerate/fsdp.yaml)
  case "$ACCELERATE_CONFIG" in *fsdp*) extra+=(gradient_checkpointing=false) ;; esac
  for entry in $STAGES; do
    stage="${entry%%:*}" folder="${entry#*:}"
    if [ -f "$CKPT/$folder/metrics.json" ]; then say "train: $stage done before ($CKPT/$folder)"; continue; fi
    say "train: $stage on $NUM_GPUS GPU(s) with $ACCELERATE_CONFIG -> $CKPT/$folder"
    # --resume continues from $CKPT/.work/$stage/checkpoint-* when a run was interrupted
    launch train --config "$PRESET" --resume stage="$stage" data="$DATA" out="$CKPT" \
      base="$BASE_MODEL" accelerate_config="$ACCELERATE_CONFIG" ${extra[@]+"${extra[@]}"}
  done
}

step_eval() {
  [ -f "$DONE/eval" ] && { say "eval: done before ($EVAL)"; return; }
  [ -f "$CKPT/manifest.json" ] || die "no checkpoint at $CKPT: run the train step first"
  say "eval: alpha-UMi vs single-LLM vs the untrained base -> $EVAL"
  # UMI_DATA_ROOT: where `umi eval` finds the BFCL and APIBench files
  UMI_DATA_ROOT="$DATA_ROOT" umi eval suite --checkpoint "$CKPT" --data "$DATA" \
    --synth "$SYNTH/trajectories.jsonl" --out "$EVAL" \
    --limit-static "$LIMIT_STATIC" --limit-passrate "$LIMIT_PASSRATE" \
    --limit-bfcl "$LIMIT_BFCL" --limit-apibench "$LIMIT_APIBENCH"
  mkdir -p "$DONE" && touch "$DONE/eval"
}

step_export() {
  [ -f "$EXPORT/serve.md" ] && { say "export: done before ($EXPORT/serve.md)"; return; }
  say "export: backbone + role adapters for vLLM -> $EXPORT"
  umi export vllm --checkpoint "$CKPT" --out "$EXPORT" --dtype "$EXPORT_DTYPE"
  say "serve it: see $EXPORT/serve.md"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(install data train eval export)
for s in "${steps[@]}"; do
  case "$s" in
    install|data|train|eval|export) "step_$s" ;;
    *) die "unknown step '$s' (steps: install data train eval export)" ;;
  esac
done
say "finished: ${steps[*]} (outputs under $WORK)"
