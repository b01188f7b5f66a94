"""The benchmark's harness: a fresh database, the statement counter, timed runs of domain calls and pages
(:class:`Bench`), the N+1 check, and the output table.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import statistics
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from benchmarks.data import PASSWORD, Fixture
from config import normalise_database_url
from crm.extensions import db

ROOT = Path(__file__).resolve().parent.parent
SLOW_MS = 200.0


# --- the database ------------------------------------------------------------------------------------------------

def make_database(url: str | None) -> tuple[str, Callable[[], None], str]:
    """A fresh empty database: (its URL, a function that drops it, a label)."""
    if not url or url.startswith("sqlite"):
        folder = tempfile.mkdtemp(prefix="crm_bench_")
        path = Path(folder) / "bench.sqlite3"
        return f"sqlite:///{path}", lambda: shutil.rmtree(folder, ignore_errors=True), "sqlite"
    admin = sa.create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    name = f"crm_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    new_url = admin.url.set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return new_url, drop, admin.dialect.name


def database_version() -> str:
    engine = db.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + conn.exec_driver_sql("select sqlite_version()").scalar()
        return str(conn.exec_driver_sql("select version()").scalar()).split(" on ")[0]



# --- measuring ---------------------------------------------------------------------------------------------------

_IN_LIST = re.compile(r"IN \((?:\?|%\(\w+\)s(?:::\w+)?|\$\d+(?:::\w+)?|, )+\)")


def normalise_sql(statement: str) -> str:
    """A statement with its whitespace folded and its IN lists shortened, to compare two runs' statements."""
    return _IN_LIST.sub("IN (…)", " ".join(statement.split()))


class QueryCounter:
    """Counts the SQL statements run on the engine (BEGIN / SAVEPOINT / RELEASE / ROLLBACK not included)."""

    SKIP = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")

    def __init__(self, engine: sa.Engine):
        self.count = 0
        self.statements: list[str] = []
        self.keep = False
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        if statement.lstrip().upper().startswith(self.SKIP):
            return
        self.count += 1
        if self.keep:
            self.statements.append(statement)

    def reset(self) -> None:
        self.count = 0
        self.statements = []


@dataclass
class Result:
    group: str
    name: str
    runs_ms: list[float]
    queries: int
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.runs_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def to_dict(self) -> dict:
        return {"group": self.group, "operation": self.name, "median_ms": round(self.median, 2),
                "p95_ms": round(self.p95, 2), "queries": self.queries, "runs": len(self.runs_ms),
                "runs_ms": [round(r, 2) for r in self.runs_ms], "note": self.note}


class Bench:
    def __init__(self, app: Flask, fx: Fixture, repeat: int, log: Callable[[str], None]):
        self.app = app
        self.fx = fx
        self.repeat = repeat
        self.log = log
        with app.app_context():
            self.counter = QueryCounter(db.engine)
        self.results: list[Result] = []
        self.nplus1: list[dict] = []
        self.clients: dict[str, FlaskClient] = {}

    # one domain call in a fresh session: ``setup`` (untimed) loads what ``action`` needs
    def _domain_run(self, setup: Callable[[], Any], action: Callable[[Any], Any]) -> tuple[float, int]:
        with self.app.app_context():
            try:
                ctx = setup()
                self.counter.reset()
                start = perf_counter()
                action(ctx)
                elapsed = perf_counter() - start
                return elapsed * 1000, self.counter.count
            finally:
                db.session.rollback()

    def domain(self, group: str, name: str, setup: Callable[[], Any], action: Callable[[Any], Any], *,
               repeat: int | None = None, note: str = "", warm_up: bool = True) -> Result:
        if warm_up:
            self._domain_run(setup, action)
        runs = [self._domain_run(setup, action) for _ in range(repeat or self.repeat)]
        return self._add(group, name, runs, note)

    def client(self, username: str) -> FlaskClient:
        if username not in self.clients:
            client = self.app.test_client()
            response = client.post("/login", data={"username": username, "password": PASSWORD})
            if response.status_code != 302:
                raise RuntimeError(f"sign-in of {username} failed: {response.status_code}")
            self.clients[username] = client
        return self.clients[username]

    def _http_run(self, username: str, url: str, expect: str = "") -> tuple[float, int, int, int]:
        client = self.client(username)
        self.counter.reset()
        start = perf_counter()
        response = client.get(url)
        body = response.get_data()
        elapsed = perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} as {username}: {response.status_code}\n{body[:2000]!r}")
        if expect and expect.encode() not in body:
            raise RuntimeError(f"GET {url} as {username}: {expect!r} is not on the page")
        return elapsed * 1000, self.counter.count, len(body), response.status_code

    def http(self, group: str, name: str, username: str, url: str, *, repeat: int | None = None,
             expect: str = "") -> Result:
        """GET ``url`` signed in as ``username``; the page must answer 200 (and contain ``expect``)."""
        self._http_run(username, url, expect)  # warm-up
        runs, size = [], 0
        for _ in range(repeat or self.repeat):
            elapsed, queries, size, _status = self._http_run(username, url)
            runs.append((elapsed, queries))
        return self._add(group, name, runs, f"{size // 1024} KB")

    def statements_of(self, username: str, url: str) -> list[str]:
        self.counter.keep = True
        try:
            self._http_run(username, url)
            return list(self.counter.statements)
        finally:
            self.counter.keep = False

    def check_growth(self, page: str, username: str, small: tuple[str, str], large: tuple[str, str]) -> None:
        """The same page at a small and a large size: a query count that grows with the rows is an N+1."""
        small_label, small_url = small
        large_label, large_url = large
        small_run, large_run = self.statements_of(username, small_url), self.statements_of(username, large_url)
        q_small, q_large = len(small_run), len(large_run)
        verdict = "constant" if q_small == q_large else f"differs ({q_large - q_small:+d})"
        extra = Counter(map(normalise_sql, large_run))
        extra.subtract(map(normalise_sql, small_run))
        extra_statements = []
        if q_small != q_large:
            extra_statements = [f"{n}× {q[:110]}" for q, n in extra.items() if n > 0]
            repeated = max(extra.values())
            verdict = (f"GROWS: N+1 ({repeated}× the same statement)" if repeated >= 3
                       else f"{q_large - q_small:+d}, one-off (not per row)")
        self.nplus1.append({"page": page, "small": small_label, "small_queries": q_small, "large": large_label,
                            "large_queries": q_large, "verdict": verdict, "extra_statements": extra_statements})
        self.log(f"  {page}: {small_label} {q_small} q, {large_label} {q_large} q → {verdict}")
        for statement in extra_statements:
            self.log(f"      + {statement}")

    def _add(self, group: str, name: str, runs: list[tuple[float, int]], note: str) -> Result:
        result = Result(group, name, [r[0] for r in runs], max(r[1] for r in runs), note)
        self.results.append(result)
        flag = "  SLOW" if result.median > SLOW_MS else ""
        self.log(f"  {name:<58} {result.median:9.1f} {result.p95:9.1f} {result.queries:5d}{flag}")
        return result



# --- output ------------------------------------------------------------------------------------------------------

def git_commit() -> str:
    """The checked-out commit (short), read from .git without running git; "" when unknown."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head[:10]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text(encoding="utf-8").strip()[:10]
        for line in (git / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:10]
    except OSError:
        pass
    return ""


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "sqlalchemy": sa.__version__, "commit": git_commit()}


def table(results: Iterable[Result]) -> str:
    lines = ["| operation | median ms | p95 ms | queries |", "|---|---:|---:|---:|"]
    group = None
    for r in results:
        if r.group != group:
            group = r.group
            lines.append(f"| **{group}** | | | |")
        flag = " ⚠" if r.median > SLOW_MS else ""
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.name}{note} | {r.median:.1f}{flag} | {r.p95:.1f} | {r.queries} |")
    return "\n".join(lines)
