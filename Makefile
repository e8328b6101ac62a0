# Two commands for a newcomer: `make run` (set up, then upscale the bundled sample photo with
# the bundled default model) and `make test` (set up, then run the test suite).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.rwsr-installed

.PHONY: setup run test bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/rwsr info rwsr-edl-x4

test: $(STAMP)
	$(PYTHON) -m pytest -q -n 2 --dist loadfile
