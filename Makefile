# The two commands of the README:
#   make book    build the whole book (full profile: paper settings, full CIFAR-10)
#   make test    run the test suite (unit tests, then a quick build checked in a browser)
PYTHON ?= python3
PROFILE ?= full
STAMP := .cache/installed.stamp
# fixed thread counts: same seed, same numbers (a comment on the same line would end up in the value)
export MKL_DYNAMIC := FALSE

.PHONY: book book-quick test unit install clean benchmark

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m pip install -q -r requirements.txt
	$(PYTHON) -m pip install -q --no-deps -e .
	$(PYTHON) -m ipykernel install --user --name python3 >/dev/null
	@mkdir -p $(dir $@) && touch $@

install: $(STAMP)

book: $(STAMP)
	$(PYTHON) book/build.py --profile $(PROFILE)

book-quick: $(STAMP)
	$(PYTHON) book/build.py --profile quick

unit: $(STAMP)
	$(PYTHON) -m pytest -q -m "not browser"

test: $(STAMP) book-quick
	$(PYTHON) -m pytest -q

benchmark: $(STAMP)
	$(PYTHON) benchmarks/throughput.py

clean:
	rm -rf _build book/generated book/_static/plotly.min.js
