# The two entry points (README): `make demo` and `make test`. Both install .venv first when needed.
SHELL := /bin/bash
VENV := .venv
SNAKEMAKE := $(VENV)/bin/snakemake
PYTEST_ARGS ?=
# The demo and the tests never reach the Hugging Face Hub: everything they load is built or shipped here.
DEMO_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: venv demo test test-paper-mini test-fast lint rulegraph clean-demo

venv:
	tools/setup-venv

demo: venv
	$(DEMO_ENV) $(SNAKEMAKE) --profile profiles/local

test: venv
	$(DEMO_ENV) tools/run-tests $(PYTEST_ARGS)

# the whole config/paper-mini.yaml run on CPU alone (make test runs it too, beside the live-Slurm tests)
test-paper-mini: venv
	$(DEMO_ENV) $(VENV)/bin/python -m pytest -ra -m paper_mini $(PYTEST_ARGS)

test-fast: venv
	$(DEMO_ENV) $(VENV)/bin/python -m pytest -ra -m "not slow and not slurm" $(PYTEST_ARGS)

# Python (ruff, configured in pyproject.toml), the workflow (snakemake --lint) and its formatting (snakefmt)
lint: venv
	$(VENV)/bin/ruff check .
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules

# The README's pipeline picture; tests/test_docs.py fails when docs/rulegraph.dot is stale.
rulegraph: venv
	$(SNAKEMAKE) --rulegraph --quiet all > docs/rulegraph.dot
	dot -Tsvg docs/rulegraph.dot > docs/rulegraph.svg

clean-demo:
	rm -rf results logs benchmarks .snakemake/metadata
