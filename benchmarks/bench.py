"""Benchmark of the CRM's hot paths on a large generated data set (the quality bar: speed is measured here,
not by timed tests).

    python benchmarks/bench.py [--database-url URL] [--enterprises 20000] [--repeat 5] [--json PATH]

1. Makes a fresh database: a temporary SQLite file by default; with ``--database-url postgresql://…`` it
   creates its own database on that server (and drops it at the end, like ``tests/conftest.py``).
2. Runs the migrations and loads the plan's reference data, as ``make run`` does.
3. Bulk-generates a realistic data set with core ``INSERT``s (not the audited domain functions: those are for
   correctness, not volume). Names get their ``name_key`` / pinyin / initials from the domain's own helpers,
   USCCs a valid check digit, so search and the Excel import treat them as real records.
4. Times the hot paths with ``time.perf_counter``: one warm-up run, then ``--repeat`` runs, each in a fresh
   session (domain functions) or a fresh request (pages, through the Flask test client, signed in). Every
   SQL statement is counted by an engine event listener (transaction control — BEGIN, SAVEPOINT … — is not).
5. Prints ``operation | median ms | p95 ms | queries`` and an N+1 check (query counts of the same page at a
   small and a large size: a count that grows with the rows shown is an N+1).

The parts: ``data.py`` generates the data set (``vocabulary.py`` has its words), ``harness.py`` makes the database,
counts and times (:class:`~benchmarks.harness.Bench`) and prints the table, ``cases.py`` lists what is timed.
See benchmarks/README.md for the measured numbers and what they say.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.cases import run_benchmarks  # noqa: E402
from benchmarks.data import Scale, finish_load, generate  # noqa: E402
from benchmarks.harness import SLOW_MS, Bench, database_version, machine, make_database, table  # noqa: E402
from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402

SEED = 20261126


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""),
                        help="postgresql://… to run on PostgreSQL (a database is created and dropped there); "
                             "default: a temporary SQLite file")
    parser.add_argument("--enterprises", type=int, default=20000, help="enterprises to generate (default 20000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per operation after one warm-up")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated database (its URL is printed) to EXPLAIN queries on it")
    args = parser.parse_args(argv)
    if args.enterprises < 400:
        parser.error("--enterprises must be at least 400")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    def log(message: str) -> None:
        if not args.quiet:
            print(message, flush=True)

    started = perf_counter()
    url, drop, backend = make_database(args.database_url)
    app = None
    try:
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            from flask_migrate import upgrade

            from crm.demo.reference import load_reference_data

            t0 = perf_counter()
            logging.disable(logging.INFO)  # alembic's "Running upgrade …" lines
            try:
                upgrade()
            finally:
                logging.disable(logging.NOTSET)
            load_reference_data()
            db.session.commit()
            version = database_version()
            log(f"{version}: migrated in {perf_counter() - t0:.1f} s; generating {args.enterprises} enterprises …")
            t0 = perf_counter()
            fx = generate(Scale.for_enterprises(args.enterprises), random.Random(args.seed), log)
            db.session.commit()
            finish_load()
            generated = perf_counter() - t0
            log(f"data set ready in {generated:.1f} s: {fx.counts}")
        bench = Bench(app, fx, args.repeat, log)
        run_benchmarks(bench)
        total = perf_counter() - started
        info = machine() | {"database": version}
        print(f"\n## {info['database']} — {info['nproc']} CPU ({info['cpu']}), Python {info['python']}, "
              f"--enterprises {args.enterprises} --repeat {args.repeat}, commit {info['commit'] or '?'}\n")
        print(table(bench.results))
        print("\n| page | small | queries | large | queries | verdict |\n|---|---|---:|---|---:|---|")
        for row in bench.nplus1:
            print(f"| {row['page']} | {row['small']} | {row['small_queries']} | {row['large']} | "
                  f"{row['large_queries']} | {row['verdict']} |")
        slow = [r for r in bench.results if r.median > SLOW_MS]
        print(f"\nslower than {SLOW_MS:.0f} ms (median): " + (", ".join(r.name for r in slow) or "none"))
        grows = [row["page"] for row in bench.nplus1 if row["verdict"].startswith("GROWS")]
        print("query count growing with the rows shown: " + (", ".join(grows) or "none"))
        print(f"data set generated in {generated:.1f} s; whole run {total:.1f} s")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "machine": info, "backend": backend,
                "arguments": {"enterprises": args.enterprises, "repeat": args.repeat, "seed": args.seed},
                "data_set": fx.counts, "generation_seconds": round(generated, 1), "total_seconds": round(total, 1),
                "slow_threshold_ms": SLOW_MS, "results": [r.to_dict() for r in bench.results],
                "query_growth": bench.nplus1,
            }, ensure_ascii=False, indent=2), encoding="utf-8")
    finally:
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        if args.keep:
            print(f"database kept: {url}")
        else:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
