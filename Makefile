# The two commands (see README.md):
#   make run    set everything up and start the daemon in the foreground
#   make test   set everything up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install bench eval clean system-tools docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/agentd

# In CI (CI=true, root, Debian) the tools some tests use are installed first:
# groff/man-db (man pages: rendering, `man -w` after a wheel install, `agentctl
# man`), socat (the socket from the shell), zsh and fish (completion, driven in
# those shells like bash), systemd (systemd-analyze verify), dbus-daemon (a
# private session bus for the desktop notification of approvals). Elsewhere those
# tests skip and say why.
SYSTEM_TOOLS := groff-base man-db socat zsh fish systemd dbus-daemon

system-tools:
	@if [ "$$CI" = "true" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for t in groff man socat zsh fish systemd-analyze dbus-daemon; do command -v $$t >/dev/null || missing=1; done; \
	  if [ -n "$$missing" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_TOOLS)) \
	      >/dev/null 2>&1 || echo "note: could not install $(SYSTEM_TOOLS); the tests that need them will skip"; \
	  fi; \
	fi

test: $(STAMP) system-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Regenerate the reference docs, agentd.toml(5) and the package's copies of man/ and
# systemd/ from the code (tests/ship checks that they are current).
docs: $(STAMP)
	$(BIN)/python -m scripts.docgen

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# Re-record docs/demo/ai-news-monitor.cast (asciinema comes with the test extras).
demo: $(STAMP)
	$(BIN)/python docs/demo/record.py

# The real-model benchmark (bench/README.md): fetches the model (~1.1 GB, cached
# under $$XDG_CACHE_HOME/agentd-realmodel), starts its own llama.cpp server and
# runs agentd and five agent frameworks on the same goals (~1 hour on 2 cores).
# EVAL_ARGS="--systems agentd --goals headlines" for a subset.
eval: $(STAMP)
	$(BIN)/python -m bench.realmodel --json eval-results.json $(EVAL_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
