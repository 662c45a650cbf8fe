# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Every target creates the virtual environment .venv first when it is missing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Nothing is downloaded at run time: models come from pip packages or are built at random.
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

DATA := data/synthmemes
RUN  := artifacts/demo-run
# Jupyter, IPython and Matplotlib write their settings here, not in the home folder.
SCRATCH := $(CURDIR)/artifacts/.home
export JUPYTER_CONFIG_DIR := $(SCRATCH)/jupyter
export IPYTHONDIR := $(SCRATCH)/ipython
export MPLCONFIGDIR := $(SCRATCH)/matplotlib
# The project's own checks: a claim of the notebooks' text that fails raises (memelib.course.expect). Never set
# for learners (make lab, make hub): their notebooks print a note and go on.
test test-laptop test-browser test-hub bench notebooks notebook-times: export MEMELIB_STRICT := 1

.PHONY: venv demo test test-laptop notebooks student lab bench bench-fusion demo-vs notebook-times clean test-browser check hub test-hub

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

# Generate SynthMemes, train the offline preset with concat fusion, evaluate on dev.
demo: $(STAMP)
	$(PY) -m memelib synth $(DATA)
	$(PY) -m memelib validate $(DATA) > artifacts/validate.txt && tail -n 3 artifacts/validate.txt
	$(PY) -m memelib train --data $(DATA) --out $(RUN) --preset offline --fusion concat --cache-dir artifacts/cache
	$(PY) -m memelib evaluate $(RUN) --data $(DATA) --split dev --report-dir artifacts/demo-report

# Pre-flight: one PASS/FAIL line per item (Python and packages, free RAM and disk, SynthMemes, JupyterLab and the
# widget extension, the feature cache, every notebook's set-up cells in a Jupyter kernel), each failure with its fix.
# The first run prepares what is missing (SynthMemes, the features: a few minutes); later runs take seconds.
# CHECK_ARGS=--no-prepare only checks.
check: $(STAMP)
	$(PY) -m memelib.preflight $(CHECK_ARGS)

# Unit tests, then every notebook run top to bottom under strict nbval (outputs compared with the saved ones) on
# three CPUs' arithmetic, each from an empty feature cache: this CPU's own, AVX2 (a laptop), AVX-512 without
# bf16/VNNI/AMX (AMD EPYC, older Xeons); a variant this CPU lacks is skipped with a printed line (tests/arithmetic.py).
# MEMELIB_STRICT=1: a claim of the notebooks' text that fails raises (memelib.course.expect); learners get a note.
test: $(STAMP)
	$(PY) -m pytest tests
	$(PY) tests/arithmetic.py

# The notebooks as a 4-thread laptop without AVX-512 or bf16 units computes them (AVX2 kernels only), from an
# empty feature cache. LAPTOP_THREADS=1 tries one thread.
LAPTOP_THREADS ?= 4
test-laptop: $(STAMP)
	$(PY) tests/arithmetic.py --variants avx2 --threads $(LAPTOP_THREADS)

# Every notebook run in JupyterLab in headless Chromium (copies; the committed ones are never saved),
# notebook 06's widgets used; screenshots in artifacts/browser/. Installs Debian's chromium (as root) and
# Playwright when missing; never downloads a browser. BROWSER_ARGS=--break-slider shows a failing run.
test-browser: $(STAMP)
	test -x /usr/bin/chromium || { test "$$(id -u)" = 0 || { echo "needs /usr/bin/chromium: run 'apt-get install chromium' as root" >&2; exit 1; }; \
		apt-get update && apt-get install -y chromium; }
	$(PY) -c "import playwright" 2>/dev/null || $(PY) -m pip install -e ".[browser]"
	$(PY) browser_tests/run_notebooks.py $(BROWSER_ARGS)

# The course on JupyterHub for a workshop (README, "Running a workshop"): the learners listed in hub/learners.txt,
# SynthMemes, student notebooks and warm features prepared once and shared read-only, each learner in their own
# folder under artifacts/hub/learners/; on 127.0.0.1:8000 until Ctrl-C (HUB_IP=0.0.0.0 serves a room; settings in
# hub/workshop.py). Installs JupyterHub (pip, the hub extra) and its proxy (npm, into hub/node_modules) when missing.
hub: $(STAMP)
	$(PY) -c "import jupyterhub, jupyterhub_idle_culler" 2>/dev/null || $(PY) -m pip install -e ".[hub]"
	test -x hub/node_modules/.bin/configurable-http-proxy || npm ci --prefix hub --no-audit --no-fund
	$(PY) hub/start.py

# The hub under load: 3 learners (HUB_TEST_ARGS=--learners N) log in through its API and run notebook 04's student
# copy at once; each must finish without error and write only in their own folder; everything is stopped by PID.
# Seconds, memory and CPU per learner: artifacts/hub_load.json.
test-hub: $(STAMP)
	$(PY) -c "import jupyterhub, jupyterhub_idle_culler" 2>/dev/null || $(PY) -m pip install -e ".[hub]"
	test -x hub/node_modules/.bin/configurable-http-proxy || npm ci --prefix hub --no-audit --no-fund
	$(PY) hub/load_test.py $(HUB_TEST_ARGS)

# Re-execute every notebook in place, refreshing its saved outputs.
notebooks: $(STAMP)
	cd notebooks && for nb in [0-9]*.ipynb; do \
		../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

# Exercise copies of the notebooks, worked answers replaced by `...`, in student/ (not in git).
student: $(STAMP)
	$(PY) -m memelib.exercises student notebooks student

# JupyterLab on the course.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

# Seconds each notebook takes, run top to bottom: artifacts/notebook_times.json
notebook-times: $(STAMP)
	$(PY) benchmarks/notebook_times.py --out artifacts/notebook_times.json

# AUROC of every fusion head on SynthMemes dev (offline preset, frozen features): artifacts/fusion_bench.json
bench-fusion: $(STAMP)
	$(PY) benchmarks/fusion_table.py --out artifacts/fusion_bench.json

clean:
	rm -rf artifacts/demo-run artifacts/demo-report artifacts/cache artifacts/runs $(DATA) student

# Speed and memory (matmul rate, extraction, loading, training, prediction, demo): artifacts/bench.json
bench: $(STAMP)
	$(PY) benchmarks/speed.py --out artifacts/bench.json

# The demo now against an earlier commit, cold, alternating: make demo-vs REV=<commit> -> artifacts/demo_vs.json
demo-vs: $(STAMP)
	@test -n "$(REV)" || { echo "usage: make demo-vs REV=<an earlier commit>"; exit 2; }
	$(PY) benchmarks/demo_vs.py $(REV) --out artifacts/demo_vs.json
