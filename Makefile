# Two commands a newcomer needs: `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` is explicit development: without SECRET_KEY the app makes a random key in instance/secret_key (0600)
# on first run and reuses it. Any other CRM_ENV refuses to start without a real SECRET_KEY (config.py).
FLASK := CRM_ENV=development $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint venv migrate seed clean bench bench-smoke bench-inprocess browser

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

# Speed over HTTP at provincial scale (issue 11; benchmarks/README.md): a PostgreSQL data set of 100,000 enterprises
# in the database crm_bench_full (kept and reused while the seed and size are the same; new migrations still run),
# gunicorn with 2 sync workers as in production, a separate load process with 8 and 32 clients. Results: the table
# and benchmarks/results/<time>.json. BENCH_ARGS="--duration 5 --clients 8" etc.; BENCH_DATABASE_URL the server.
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
bench: venv
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python benchmarks/http_bench.py --reuse crm_bench_full $(BENCH_ARGS)

# The same pipeline at 1% of the size with short runs (a few minutes), in a throwaway database that is dropped.
# Fails only when the harness breaks (an error, a non-2xx answer, a crash), never on times. Run by .ci/run.
bench-smoke: venv
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python benchmarks/http_bench.py --smoke $(BENCH_ARGS)

# The older in-process benchmark (domain calls and pages through the Flask test client, statement counts, N+1 check);
# BENCH_ARGS="--database-url postgresql://…".
bench-inprocess: venv
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/*.sqlite3
