# The two commands of the README:
#   make book    build the whole book (full profile: paper settings, full CIFAR-10)
#   make test    run the test suite (unit tests, then a quick build checked in a browser)
#
# Everything runs in one Python environment: an active virtual environment, or an active conda
# environment other than `base`, is used as it is; otherwise the project's own .venv, made on first
# use with `$(PYTHON) -m venv`. Nothing is installed into $(PYTHON) itself (a distribution's Python
# refuses that anyway: PEP 668).
PYTHON ?= python3
PROFILE ?= full
VENV ?= .venv
# the exact versions to install (README, Versions); `make install LOCK=` installs the ranges alone
LOCK ?= requirements.lock
ifneq ($(VIRTUAL_ENV),)
ENVDIR := $(VIRTUAL_ENV)
else ifneq ($(filter-out base,$(CONDA_DEFAULT_ENV)),)
ENVDIR := $(CONDA_PREFIX)
else
ENVDIR := $(VENV)
endif
PY := $(ENVDIR)/bin/python
STAMP := $(ENVDIR)/.eqlib-installed
# the Jupyter kernel that book/build.py runs the chapters in (book/build.py: KERNEL)
KERNEL := eqlib
# fixed thread counts: same seed, same numbers (a comment on the same line would end up in the value)
export MKL_DYNAMIC := FALSE

.PHONY: book book-quick test unit numerics networks install lock clean benchmark

# The venv sees $(PYTHON)'s own packages where $(PYTHON) has torch and pip manages its packages, so
# an installed torch (gigabytes) is reused; a distribution's Python, whose packages belong to the
# system's package manager (an EXTERNALLY-MANAGED marker, PEP 668), gets an isolated venv (README, The environment).
SITE_CHOICE := import importlib.util as u, os, sysconfig; \
  managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")); \
  print("--system-site-packages" if u.find_spec("torch") and not managed else "")

$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(strip $(shell $(PYTHON) -c '$(SITE_CHOICE)') $(VENV))

ifeq ($(ENVDIR),$(VENV))
$(STAMP) lock: | $(VENV)/pyvenv.cfg
endif

# requirements.txt's ranges, at the versions of requirements.lock (the versions the book is built
# with). It pulls in setuptools>=77 (a fresh venv carries 65.5), which the editable install of eqlib
# and the wheel test build with. The kernel goes into the environment (--sys-prefix), not into the
# user's kernels.
$(STAMP): requirements.txt $(LOCK) pyproject.toml
	$(PY) -m pip install -q $(if $(LOCK),-c $(LOCK)) -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (eqlib)" >/dev/null
	@touch $@

install: $(STAMP)

# requirements.lock: what pip would install for requirements.txt with this environment's Python,
# keeping the lock's versions where they still fit (book/lock.py --upgrade: the newest)
lock:
	$(PY) book/lock.py

book: $(STAMP)
	$(PY) book/build.py --profile $(PROFILE)

book-quick: $(STAMP)
	$(PY) book/build.py --profile quick

# the suite spread over the cores (pytest-xdist; a file's tests stay on one worker, at most four workers), ending
# with its 15 slowest tests, so that a CI log shows where the suite's time goes
PYTEST := $(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadfile --durations 15

unit: $(STAMP)
	$(PYTEST) -m "not browser and not slow_install"

test: $(STAMP) book-quick
	$(PYTEST)

# after make book: the networks the pages used, packed into _build/networks.tar (a release asset), their hashes
# pinned in eqlib/networks.json (commit it); EQLIB_NETWORKS=<the archive's URL or path> then loads them
networks: $(STAMP)
	$(PY) book/build.py --profile $(PROFILE) --pack-networks

# the numerical tests (those stating a round-off bound) under every instruction set this CPU can imitate
# (tests/instruction_sets.py; ISA=portable runs one combination, as CI does)
numerics: $(STAMP)
	$(PY) tests/instruction_sets.py $(if $(ISA),--only $(ISA))

benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf _build book/generated book/_static/plotly.min.js
