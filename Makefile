# Two commands for a newcomer: `make run` (set up, then upscale the bundled sample photo with
# the bundled default model) and `make test` (set up, then run the test suite).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.rwsr-installed

.PHONY: setup run test bench browser

setup: $(STAMP) browser

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/rwsr upscale src/rwsr/assets/sample.png -o upscaled

# The MOS browser test drives Debian's Chromium (Playwright never downloads a browser here).
# Installed once where apt-get works (as root); elsewhere that test skips and says why.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Chromium for the browser test (apt-get install chromium)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			>/dev/null) || echo "warning: Chromium could not be installed; the browser test will skip"; \
	fi

test: $(STAMP) browser
	$(PYTHON) -m pytest -q -n 2 --dist loadfile
