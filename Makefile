# 呼叫中心许可证助手 — see README.md for what each target does.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# offline and quiet: no telemetry, no SQLAlchemy 2.0 warnings, no TensorFlow chatter
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Commands run from here (facts, train, validate, the launcher) stay quiet about these third-party deprecations,
# named one by one by the start of their message; any other warning, ours above all, is still shown. (The Rasa
# service prints them whatever this says.) In pytest itself pyproject.toml's filterwarnings decide: every warning
# fails a test unless it is a third-party one listed there.
export PYTHONWARNINGS ?= ignore:pkg_resources is deprecated as an API:DeprecationWarning,\
	ignore:Deprecated call to `pkg_resources.declare_namespace:DeprecationWarning,\
	ignore:'BaseCommand' is deprecated:DeprecationWarning,\
	ignore:'click.utils.get_:DeprecationWarning,\
	ignore:Importing 'parser.split_arg_string' is deprecated:DeprecationWarning,\
	ignore:jax.xla_computation is deprecated:DeprecationWarning,\
	ignore:distutils Version classes are deprecated:DeprecationWarning,\
	ignore:The explicit passing of coroutine objects to asyncio.wait() is deprecated:DeprecationWarning

.PHONY: help install system-deps facts train validate run shell test test-fast security lint eval bench audit clean

help:
	@echo "make run       install, load facts, train if stale, start the assistant"
	@echo "make test      everything the project checks (what CI runs)"
	@echo "make test-fast the unit tests (pytest -m unit -n 2): no server, no browser, about a minute"
	@echo "make security  the attack tests (tests/security) against a running test stack"
	@echo "make lint      ruff (style, likely bugs, formatting) and mypy (types of bot/, actions/, web/ and the rest)"
	@echo "make train     train the model if its inputs changed (FORCE=1 to retrain)"
	@echo "make shell     talk to the bot in this terminal"
	@echo "make facts     load data/facts/*.yml into the facts database"
	@echo "make validate  rasa data validate"
	@echo "make eval      NLU report: held-out set, cross-validation, stock-pipeline baseline"
	@echo "make bench     benchmarks: load at 1/10/50 visitors vs the stock pipeline, conversation-length curve,"
	@echo "               profile per stage (docs/benchmarks.md), console list, normaliser"
	@echo "make audit     pip-audit of the pinned dependencies (scripts/audit-exceptions.txt)"

$(INSTALLED): pyproject.toml constraints.txt scripts/bootstrap.sh scripts/find-python.sh
	@scripts/bootstrap.sh $(VENV)
	@touch $@

install: $(INSTALLED)

system-deps:
	@scripts/system-deps.sh

facts: install
	$(PY) -m tools.facts

train: install
	$(PY) -m tools.train $(if $(FORCE),--force)

validate: install
	$(PY) -m rasa data validate --config bot/config.yml --domain bot/domain.yml \
		--data data/nlu data/rules data/stories

run: install
	$(PY) -m services.run

shell: install
	$(PY) -m services.run --shell

test: install system-deps validate train
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory security
	$(PY) -m pytest -p no:cacheprovider --ignore=tests/security

# the unit tests on two processes (pytest-xdist): they share no file of the checkout and no fixed port
test-fast: install
	$(PY) -m pytest -p no:cacheprovider -m unit -n 2

security: install system-deps train
	$(PY) -m pytest -p no:cacheprovider tests/security

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy

eval: install
	$(PY) -m tools.evaluate

bench: install train
	$(PY) -m bench.load
	$(PY) -m bench.console_list
	$(PY) -m bench.normalize

audit:
	@scripts/audit.sh

clean:
	rm -rf models results var/*.db
