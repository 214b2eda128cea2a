# LatentMorph: one command to set up and run the demo, one to set up and run the tests.
# Every target is idempotent: stamps and CMake's own dependency tracking skip finished work.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
BUILD_DIR   := build
VST3        := $(BUILD_DIR)/plugin/LatentMorph_artefacts/Release/VST3/LatentMorph.vst3
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian bookworm packages: JUCE 7 (brings its -dev build deps), the toolchain, fluidsynth for
# rendering training notes and factory samples, headless Chromium for the library-map page test
# (~115 MB download, 370 MB installed), clang-format for the plugin's C++ style (plugin/.clang-format).
APT_PACKAGES := juce-modules-source cmake g++ make pkg-config python3-venv python3-dev \
                libfluidsynth3 fluid-soundfont-gm chromium clang-format
JOBS        ?= 2

.PHONY: all setup apt venv build demo test format format-check bench data train export validate eval presets clean help

all: demo

help:
	@echo "make demo   - set up everything, render a morph through the VST3, write WAV + PNG"
	@echo "make test   - set up everything and run the test suite"
	@echo "make data   - fetch and render the training data into .data/"
	@echo "make train  - train the default model (resumes), then 'make export'"
	@echo "make eval   - reconstruction and morph metrics against baselines into out/eval/"

setup: apt venv build

apt: $(VENV)/.apt-stamp
$(VENV)/.apt-stamp: Makefile  # re-checked when the package list may have changed
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

venv: $(VENV)/.pip-stamp
$(VENV)/.pip-stamp: pyproject.toml | $(VENV)/.apt-stamp
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# onnxruntime (CPU) and onnxruntime-gpu, which Linux x86-64 gets, install the same module: where the first is
	# there, both go (removing one breaks the other's files) and the install below puts onnxruntime-gpu back
	if [ "$$(uname -sm)" = "Linux x86_64" ] && $(PY) -m pip show -q onnxruntime >/dev/null 2>&1; then \
	  $(PY) -m pip uninstall -y -q onnxruntime onnxruntime-gpu; fi
	$(PY) -m pip install -q -e '.[train,dev,tools,cluster,melody]'  # tools: eval, plots, map; cluster: Ray for the --ray tests (80 MB download, 12 s)
	$(PY) -m pip install -q --no-deps 'basic-pitch==0.4.0'  # render --melody-from: its nmp.onnx on onnxruntime; its TensorFlow dependency is not wanted
	touch $@

build: $(VST3)
$(VST3): $(VENV)/.pip-stamp CMakeLists.txt pybackend/latentmorph/shared_constants.json $(shell find plugin -type f 2>/dev/null)
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DLATENTMORPH_PYTHON=$(abspath $(PY))
	cmake --build $(BUILD_DIR) -j$(JOBS)
	@touch $@

demo: setup
	$(PY) -m latentmorph.demo --plugin $(VST3) --out out/demo

test: setup format-check
	$(PY) -m pytest -q

PLUGIN_CXX := $(shell find plugin -name '*.cpp' -o -name '*.h' 2>/dev/null)

format-check: apt   # the plugin's C++ as plugin/.clang-format has it; `make format` applies it
	clang-format --dry-run --Werror $(PLUGIN_CXX)

format: apt
	clang-format -i $(PLUGIN_CXX)

data: venv
	nice -n 5 $(PY) -m latentmorph_train.data_prep prepare --out .data

train: data
	nice -n 5 $(PY) -m latentmorph_train.train export/configs/default.toml --data .data --run runs/default

export:
	$(PY) -m latentmorph_train.onnx_export runs/default/checkpoint.pt --out pybackend/latentmorph/models \
	  --parity-audio presets/samples/kick.wav --parity-audio presets/samples/bell_c4.wav
	$(PY) -m latentmorph.cli fit-prior --manifest .data/manifest.jsonl --out pybackend/latentmorph/models/latent_prior.npz

validate:
	$(PY) -m latentmorph_train.validate --data .data --out runs/default/validation.json --curves runs/default/metrics.jsonl

# Objective reconstruction and morph metrics of the shipped model against mel + Griffin-Lim and
# crossfade baselines (150 validation clips, 40 pairs; `--limit 0` for the whole split).
eval: data
	nice -n 5 $(VENV)/bin/latentmorph eval --manifest .data/manifest.jsonl --split valid --out out/eval

presets: setup
	$(PY) presets/build_presets.py --plugin $(VST3)

clean:
	rm -rf $(BUILD_DIR) out

# LATENTMORPH_SOAK_S: length of the soak in bench_render.py (default 600 s)
bench: setup
	$(PY) tests/bench.py
	$(PY) tests/bench_render.py
