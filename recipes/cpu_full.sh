#!/usr/bin/env bash
# The embedded default trained for real on a CPU: SmolLM2-135M through the whole GLPFT chain
# (stage-1 backbone, planner, caller, summarizer, and the single-LLM baseline) with the `cpu-full`
# preset, then evaluated with the suite.  This is how checkpoints/cpu-full/ and results/cpu-full/
# in the repository were made.  Measured on a 2-core AVX2 CPU (fp32, ~80-100 tok/s): about 11 h of
# training (stage 1 ~2 h, each role 1-2 h, the single-LLM baseline ~4 h) and about 2.5 h of
# evaluation (~1 h per trained system).  Run it a stage per sitting; nothing is lost in between.
#
#   bash recipes/cpu_full.sh                 # every step; finished work is skipped
#   bash recipes/cpu_full.sh train           # only this step (data, train, eval)
#   STAGES="stage2_caller" bash recipes/cpu_full.sh train   # one stage at a time, e.g. one per sitting
#   MIX=v2 bash recipes/cpu_full.sh          # the v2 chain: data v2 -> checkpoints/cpu-full-v2, results/cpu-full-v2
#
# MIX=v2 is the data of the v2 trio: synthesis recipe v2 (compositions over the typed tool graph,
# recovery after failed calls, stop conditions, irrelevant requests) and three more real sources
# (tau-bench retail, glaive, FireAct), chosen by `umi train ab` (results/ab-v1-v2/). Same preset
# and budgets as v1, so v2 against v1 compares data, not compute.
#
# Every step can be re-run after a failure or a kill: data files are written atomically, a finished
# training stage is skipped and an interrupted one resumes from its last checkpoint (every ~7 min
# of work), evaluation reuses finished reports and its generation caches.  Each stage folder is a
# few MB: commit it when it is finished (`git add checkpoints/cpu-full/<stage>`), so a chain run
# piecewise on several machines never loses a finished stage.  A stage cut off mid-way also leaves
# a ~10 MB resume point, checkpoints/cpu-full/.resume/<stage> (the adapter, schedule and RNG at the
# last save, without AdamW state): commit it too, and `train` continues from it on another machine.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# -- settings (environment variables) -----------------------------------------------------------
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"      # `make setup` creates it
DATA_ROOT="${DATA_ROOT:-$REPO/../shared/datasets}"  # the public datasets (see `umi data sources`)
MIX="${MIX:-v1}"                                # v1: the cpu-full trio's data; v2: the v2 trio's
SOURCES_V1="toolbench,toolbench_cot,stabletoolbench,apibench,bfcl,apibank,sealtools,toolalpaca,nestful,tooltalk"
case "$MIX" in
  v1) SUFFIX="";   SOURCES="$SOURCES_V1" ;;
  v2) SUFFIX="-v2"; SOURCES="$SOURCES_V1,taubench_retail,glaive,fireact" ;;
  *) printf 'error: MIX=%s (v1 or v2)\n' "$MIX" >&2; exit 1 ;;
esac
SYNTH="${SYNTH:-$REPO/out/synth$SUFFIX}"
DATA="${DATA:-$REPO/out/data$SUFFIX}"
CKPT="${CKPT:-$REPO/checkpoints/cpu-full$SUFFIX}"
EVAL="${EVAL:-$REPO/results/cpu-full$SUFFIX}"
# The items every trio is measured on: v1's test split and held-out tasks, so v2's figures pair
# with v1's item for item (`umi eval paired`). The suite checks that the checkpoint never trained
# on them (v2's training split shares no instruction with them).
EVAL_DATA="${EVAL_DATA:-$REPO/out/data}"
EVAL_SYNTH="${EVAL_SYNTH:-$REPO/out/synth/trajectories.jsonl}"
STAGES="${STAGES:-}"                            # empty: the whole chain, in order
SYNTH_N="${SYNTH_N:-20000}"
LIMIT_STATIC="${LIMIT_STATIC:-60}"              # evaluation sizes (items per benchmark)
LIMIT_PASSRATE="${LIMIT_PASSRATE:-30}"
LIMIT_BFCL="${LIMIT_BFCL:-50}"
LIMIT_APIBENCH="${LIMIT_APIBENCH:-50}"

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
umi() { "$PYTHON" -m multiagentllm.cli "$@"; }

step_data() {
  [ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null || die "$PYTHON not found: run 'make setup' first"
  if [ -f "$SYNTH/card.md" ]; then say "data: $SYNTH done before"
  else
    say "data: synthesize $SYNTH_N verified trajectories -> $SYNTH"
    umi data synth --out "$SYNTH" --n "$SYNTH_N" --seed 0 --recipe "$MIX" --data-root "$DATA_ROOT"
  fi
  if [ -f "$DATA/stats.json" ]; then say "data: $DATA done before"
  else
    say "data: build the GLPFT training sets -> $DATA"
    umi data build --out "$DATA" --data-root "$DATA_ROOT" --sources "$SOURCES" --synthetic "$SYNTH" --skip-bad
  fi
}

step_train() {
  [ -f "$DATA/stats.json" ] || die "no training data at $DATA: run the data step first"
  local only=() stage
  for stage in $STAGES; do only+=(--stage "$stage"); done
  say "train: cpu-full chain${STAGES:+ ($STAGES)} -> $CKPT (finished stages are skipped)"
  # --resume continues from $CKPT/.work/<stage>/checkpoint-* when a run was interrupted
  umi train glpft --preset cpu-full --data "$DATA" --out "$CKPT" --resume ${only[@]+"${only[@]}"}
  say "train: commit what finished: git add $CKPT/manifest.json $CKPT/<stage folder> (and $CKPT/.resume if a stage was cut off)"
}

step_eval() {
  [ -f "$CKPT/manifest.json" ] || die "no checkpoint at $CKPT: run the train step first"
  [ -f "$EVAL_DATA/stats.json" ] && [ -f "$EVAL_SYNTH" ] \
    || die "no evaluation items at $EVAL_DATA and $EVAL_SYNTH: run 'bash recipes/cpu_full.sh data' (the v1 build) first"
  say "eval: alpha-UMi vs single-LLM vs the untrained base -> $EVAL"
  # UMI_DATA_ROOT: where `umi eval` finds the BFCL and APIBench files
  UMI_DATA_ROOT="$DATA_ROOT" umi eval suite --checkpoint "$CKPT" --data "$EVAL_DATA" \
    --synth "$EVAL_SYNTH" --out "$EVAL" \
    --limit-static "$LIMIT_STATIC" --limit-passrate "$LIMIT_PASSRATE" \
    --limit-bfcl "$LIMIT_BFCL" --limit-apibench "$LIMIT_APIBENCH"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(data train eval)
for s in "${steps[@]}"; do
  case "$s" in
    data|train|eval) "step_$s" ;;
    *) die "unknown step '$s' (steps: data train eval)" ;;
  esac
done
say "finished: ${steps[*]}"
