# Set-up, demo and tests. Every target creates the virtual environment first if it is missing.
# torch is installed on its own first: pick the build for your hardware (here the CPU wheel on disk).
VENV ?= .venv
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup browser-deps demo test lint format flag-index benchmark clean upgrade-constraints

setup: $(VENV)/.installed

# constraints.txt pins every package to the version the suite last passed on, so an upstream release
# changes nothing here until `make upgrade-constraints` takes it in. `pip install -e .` (library users)
# keeps pyproject.toml's ranges.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

# Re-resolve to the newest releases inside pyproject.toml's ranges in a separate venv, run the whole
# suite there, and only if it passes write the versions it passed on into constraints.txt.
LATEST_VENV ?= .venv-latest
upgrade-constraints:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(LATEST_VENV)/bin/python -m pip install -q -e ".[dev]"
	$(LATEST_VENV)/bin/python -m pytest -n 2 --dist worksteal --timeout 300 -p randomly
	$(LATEST_VENV)/bin/python tools/constraints.py > constraints.txt
	@echo "constraints.txt now pins what the suite passed on; review 'git diff constraints.txt' and commit"

# Debian's chromium for the annotation app's browser test (needs root; the test skips without it,
# except under CI, where it must run).
browser-deps:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# The main job: BATON's four stages in the toy world from the shipped pretrained toy TANGO.
demo: setup
	$(VENV)/bin/baton-tta toy-demo --output_dir outputs/toy-demo --overwrite_output_dir true

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test: lint
	$(PY) -m pytest -n 2 --dist worksteal --timeout 300 -p randomly --durations=15 ; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# What the checks before the heavy imports know: every command's flags, from its --help.
flag-index: setup
	$(PY) -c "from baton_tta.cli import write_flag_index; write_flag_index()"

benchmark: setup
	$(PY) benchmarks/pipeline_inference.py

clean:
	rm -rf $(VENV) $(LATEST_VENV) outputs .pytest_cache .ruff_cache
