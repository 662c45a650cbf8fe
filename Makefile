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

.PHONY: venv demo test bench-fusion clean

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

test: $(STAMP)
	$(PY) -m pytest

# AUROC of every fusion head on SynthMemes dev (offline preset, frozen features): artifacts/fusion_bench.json
bench-fusion: $(STAMP)
	$(PY) benchmarks/fusion_table.py --out artifacts/fusion_bench.json

clean:
	rm -rf artifacts/demo-run artifacts/demo-report artifacts/cache $(DATA)
