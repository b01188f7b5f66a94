# Two commands a newcomer needs: `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` is explicit development: without SECRET_KEY the app makes a random key in instance/secret_key (0600)
# on first run and reuses it. Any other CRM_ENV refuses to start without a real SECRET_KEY (config.py).
FLASK := CRM_ENV=development $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint venv migrate seed clean bench browser

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

venv: $(BIN)/activate

migrate: venv
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed-demo

run: seed
	$(FLASK) demo-accounts
	$(FLASK) scheduler run & sched=$$!; trap 'kill $$sched 2>/dev/null' EXIT; $(FLASK) run --host $(HOST) --port $(PORT)

lint: venv
	$(BIN)/ruff check .

# The browser tests drive Debian's Chromium (Playwright's own download does not work here: PITFALLS, browsers).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "== installing Chromium and CJK fonts for the browser tests"; \
		apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; } || \
		{ echo "Chromium is needed: apt-get install chromium fonts-noto-cjk (or CHROMIUM=/path)"; exit 1; }; \
	fi

test: lint browser
	CRM_CHROMIUM=$(CHROMIUM) CRM_TEST_DB=sqlite $(BIN)/pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL: $$TEST_DATABASE_URL"; \
		CRM_CHROMIUM=$(CHROMIUM) CRM_TEST_DB=postgres $(BIN)/pytest -q; \
	else \
		echo "TEST_DATABASE_URL is not set: the PostgreSQL run was not done"; \
	fi

# Speed on a large generated data set (see benchmarks/README.md); BENCH_ARGS="--database-url postgresql://…".
bench: venv
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/*.sqlite3
