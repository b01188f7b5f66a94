"""The over-HTTP benchmark (issue 11): a provincial-scale PostgreSQL data set, the app served by gunicorn as in
production, and a separate load process driving it on loopback.

    python benchmarks/http_bench.py                       # full size, a throwaway database (dropped)
    python benchmarks/http_bench.py --reuse crm_bench_full   # `make bench`: keep the database, reuse it next time
    python benchmarks/http_bench.py --smoke               # `make bench-smoke`: 1% of the size, short runs

1. **Database** on ``--database-url`` (default ``BENCH_DATABASE_URL`` or postgresql://postgres@127.0.0.1:5432/postgres):
   a new ``crm_bench_<random>`` (dropped at the end unless ``--keep``), or ``--reuse NAME``: when NAME exists and was
   generated with the same seed and size (its COMMENT holds the manifest) generation is skipped, but the
   migrations still run (``flask_migrate.upgrade()``), so new ones — indexes — apply; otherwise NAME is made anew.
2. **Data** (:mod:`benchmarks.province`): migrations, reference data, then ``COPY`` of every table; the time per table
   is printed and kept in the JSON.
3. **Server**: ``gunicorn wsgi:app`` with ``--workers`` sync workers (default 2) on a free loopback port,
   ``CRM_ENV=production``, a random ``SECRET_KEY``, ``DATABASE_URL`` the bench database; its log goes to a file
   (printed on failure). No scheduler. It must answer ``/healthz`` before the load starts.
4. **Load** (``benchmarks/load.py``, its own process): per concurrency level (``--clients 8,32``) and endpoint,
   N clients for D seconds (``--duration`` at the first level, ``--duration-high`` at the others); the export and
   the import run one at a time. Per endpoint: count, errors, p50/p95/p99 ms, req/s, body bytes, throughput as a share
   of the trivial endpoint (an unknown ``/api/v1`` path → 404, measured first at each level and again just before
   each concurrent row, ``--paired-trivial``: the share is of that run), and issue 11's targets (met or not:
   reported, never a failure).
5. **Output**: the table (markdown) and the JSON (``--json``, default ``benchmarks/results/<UTC time>.json``) with the
   machine, load average, commit, data set, timings and every row. Exit 0 when every answer had its expected status;
   1 when any did not (the harness or the app broke: the run says which); 2 when the harness itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from urllib.parse import quote
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.province import Manifest, ProvinceScale, finish, generate, summary_counts  # noqa: E402
from benchmarks.stats import verdict  # noqa: E402

SEED = 20261206
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(message, flush=True)


# --- the database ------------------------------------------------------------------------------------------------

def database_url(base: str, name: str) -> str:
    url = make_url(base).set(drivername="postgresql", database=name)
    return url.render_as_string(hide_password=False)


def admin_connection(base: str) -> psycopg.Connection:
    return psycopg.connect(database_url(base, make_url(base).database or "postgres"), autocommit=True)


def stored_manifest(base: str, name: str) -> Manifest | None:
    with admin_connection(base) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
    if row is None:
        return None
    try:
        return Manifest.from_json(row[0]) if row[0] else Manifest(seed=-1, scale={})
    except (ValueError, TypeError):
        return Manifest(seed=-1, scale={})


def create_database(base: str, name: str) -> None:
    with admin_connection(base) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(base: str, name: str) -> None:
    with admin_connection(base) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(url: str, reference: bool) -> float:
    """``flask db upgrade`` (and the reference data on a new database), as production does; seconds taken."""
    from flask_migrate import upgrade

    from crm import create_app
    from crm.extensions import db

    t0 = perf_counter()
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        if reference:
            from crm.demo.reference import load_reference_data

            load_reference_data()
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return perf_counter() - t0


def build(url: str, name: str, base: str, scale: ProvinceScale, seed: int) -> Manifest:
    from crm import create_app

    log(f"== generating {scale.label()} (seed {seed}) into {name}")
    t0 = perf_counter()
    seconds = migrate(url, reference=True)
    log(f"  {'migrations + reference':<22} {'':>10}      {seconds:7.1f} s")
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context(), psycopg.connect(url) as conn:  # the app context: hash_password reads the config
        manifest = generate(conn, scale, seed, log)
        manifest.timings["migrations"] = round(seconds, 2)
        manifest.timings.update(finish(conn, log))
        manifest.counts.update(summary_counts(conn))
    manifest.generated_in_s = round(perf_counter() - t0, 1)
    log(f"== data set generated in {manifest.generated_in_s:.1f} s")
    with admin_connection(base) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name),
                                                                     sql.Literal(manifest.to_json())))
    return manifest


def reset_import_draft(url: str, manifest: Manifest) -> None:
    """The import writes into an empty draft: empty it again (a reused database keeps the last run's import)."""
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM roster_removals WHERE edition_id = %s", (manifest.import_edition,))
        conn.execute("DELETE FROM roster_entries WHERE edition_id = %s", (manifest.import_edition,))
        conn.execute("DELETE FROM roster_imports WHERE edition_id = %s", (manifest.import_edition,))


AFTER_WRITE_RUNS = 10
PROBE_SUMMARY = "基准测试:写入后首次查看服务绩效(运行后删除)"  # marks the probe's 服务记录, deleted after the run


def probe_interaction(url: str, manifest: Manifest) -> dict | None:
    """A visit to the rich enterprise by the manifest's commissioner (one of its own), today in Asia/Shanghai: the
    service dashboard's default period. ``None`` when the commissioner has no specialty (nothing to log)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT s.specialty FROM user_specialties s JOIN users u ON u.id = s.user_id "
                           "WHERE u.username = %s ORDER BY s.specialty LIMIT 1", (manifest.commissioner,)).fetchone()
    if row is None:
        return None
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    return {"enterprise_id": manifest.rich_enterprise, "date": today, "channel": "visit", "specialty": row[0],
            "summary": PROBE_SUMMARY}


def remove_probes(url: str) -> int:
    """Delete the probe's 服务记录 and their audit rows (a reused database keeps its counts: the rich enterprise's
    timeline and history stay at their size; the history card of its 一企一档 page grew ≈ 1 KB a probe before the
    audit rows went too); how many. The triggers put the rollups back as they were."""
    with psycopg.connect(url) as conn:
        ids = [row[0] for row in conn.execute("DELETE FROM interactions WHERE summary = %s RETURNING id",
                                              (PROBE_SUMMARY,))]
        conn.execute("DELETE FROM audit_log WHERE entity_type = 'interaction' AND entity_id = ANY(%s)", (ids,))
        return len(ids)


def import_file(manifest: Manifest, folder: Path) -> Path:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("名单")
    sheet.append(["序号", "统一社会信用代码", "入库理由"])
    for number, uscc in enumerate(manifest.import_usccs, start=1):
        sheet.append([number, uscc, "新增配套企业,为成渝整车企业配套关键零部件"])
    path = folder / "import.xlsx"
    workbook.save(path)
    return path


# --- the server ----------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, url: str, workers: int, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "FLASK_"))}
        env.update({"CRM_ENV": "production", "SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": url,
                    "PYTHONUNBUFFERED": "1"})
        self.handle = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
            [str(BIN / "gunicorn"), "--workers", str(workers), "--worker-class", "sync", "--bind",
             f"127.0.0.1:{self.port}", "--timeout", "300", "--graceful-timeout", "10", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:  # noqa: S310 (http://127.0.0.1 only)
                    if response.status == 200:
                        return
            except OSError as err:
                last = repr(err)
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer /healthz in {timeout:g} s ({last}):\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()


# --- what is measured -------------------------------------------------------------------------------------------

ROLE_LABEL = {"admin": "admin", "city": "city coordinator", "county": "county coordinator (汇川区)",
              "commissioner": "commissioner", "leader": "leader", "anonymous": "—"}


def endpoints(manifest: Manifest, import_path: Path, export_runs: int, levels: list[int],
              only: list[str] | None = None, probe: dict | None = None) -> list[dict]:
    """What is measured, in order. ``probe``: the 服务记录 (:func:`probe_interaction`) written before each view of
    the service dashboard's "first view after a new 服务记录" (left out without one)."""
    published, previous = manifest.periods[-2], manifest.periods[-3]
    q_name, q_initials = quote(manifest.q_name), quote(manifest.q_initials)
    rich = manifest.rich_enterprise
    out = [{"name": "unknown /api/v1 path → 404 (trivial)", "role": "anonymous", "auth": "none",
            "path": "/api/v1/bench-unknown-path", "expect": [404], "kind": "trivial"},
           # Floors (no target; where the time of a real read goes): the health check's three small queries with no
           # user; one enterprise through the API (token, scope, estimate, the list machinery, one row); the lightest
           # signed-in page (session, navigation, an empty inbox). A list of 50 rows costs these plus its rows.
           {"name": "floor: GET /healthz (3 queries, no user)", "role": "anonymous", "auth": "none",
            "path": "/healthz", "kind": "floor"},
           {"name": "floor: GET /api/v1/enterprises?per_page=1", "role": "admin", "auth": "api",
            "path": "/api/v1/enterprises?per_page=1", "kind": "floor"},
           {"name": "floor: page /notifications/ (empty inbox)", "role": "leader", "auth": "page",
            "path": "/notifications/", "kind": "floor"}]
    for role in ("admin", "county", "commissioner"):
        for label, page, api in (
                ("page 1", "/enterprises/", "/api/v1/enterprises?per_page=50"),
                ("deep page", "/enterprises/?page={deep}", "/api/v1/enterprises?per_page=50&page={deep}"),
                (f"q={manifest.q_name} (name)", f"/enterprises/?q={q_name}",
                 f"/api/v1/enterprises?per_page=50&q={q_name}"),
                (f"q={manifest.q_initials} (initials)", f"/enterprises/?q={q_initials}",
                 f"/api/v1/enterprises?per_page=50&q={q_initials}")):
            out.append({"name": f"page /enterprises/ {label}", "role": role, "auth": "page", "path": page,
                        "kind": "list_page"})
            out.append({"name": f"GET /api/v1/enterprises {label}", "role": role, "auth": "api", "path": api,
                        "kind": "list"})
    out += [
        {"name": f"GET /api/v1/enterprises/{rich}", "role": "commissioner", "auth": "api",
         "path": f"/api/v1/enterprises/{rich}", "kind": "read"},
        {"name": "page 一企一档 /enterprises/<id> (200 interactions)", "role": "commissioner", "auth": "page",
         "path": f"/enterprises/{rich}", "kind": "page"},
        {"name": "page /service/ workspace", "role": "commissioner", "auth": "page", "path": "/service/",
         "kind": "page"},
        {"name": "page /service/ workspace (coordinator)", "role": "county", "auth": "page", "path": "/service/",
         "kind": "page"},
        {"name": "page /service/ workspace (coordinator)", "role": "city", "auth": "page", "path": "/service/",
         "kind": "page"},
        {"name": f"page /assignments/ coverage, county {manifest.county}", "role": "city", "auth": "page",
         "path": f"/assignments/?county={quote(manifest.county)}", "kind": "page"},
        {"name": "page /service/requests/?overdue=1 ledger", "role": "city", "auth": "page",
         "path": "/service/requests/?overdue=1", "kind": "page"},
        {"name": "page /dashboard/ targets", "role": "leader", "auth": "page", "path": "/dashboard/", "kind": "page"},
        {"name": "page /dashboard/service/ service dashboard", "role": "leader", "auth": "page",
         "path": "/dashboard/service/", "kind": "page"},
        # The dashboard's figures are cached until a committed write moves their data version, and commissioners
        # log 服务记录 all day: the view leaders mostly get in working hours is the one after a write. Each run
        # first logs a visit as the commissioner (untimed, through the API), then times the leader's view.
        # Reported, not judged (its own kind: the targets are for the steady reads above).
        *([{"name": "page /dashboard/service/ first view after a new 服务记录", "role": "leader", "auth": "page",
            "path": "/dashboard/service/", "kind": "after_write", "sequential": True, "runs": AFTER_WRITE_RUNS,
            "before": {"role": "commissioner", "auth": "api", "method": "POST", "path": "/api/v1/interactions",
                       "json": probe}}] if probe else []),
        {"name": "page /calendar/home (leader's home)", "role": "leader", "auth": "page", "path": "/calendar/home",
         "kind": "page"},
        {"name": "GET /calendar/<token>.ics feed (leader)", "role": "anonymous", "auth": "none",
         "path": f"/calendar/{manifest.feed_token}.ics", "kind": "read"},
        {"name": f"page /rosters/supplier_list/diff {previous}→{published}", "role": "city", "auth": "page",
         "path": f"/rosters/supplier_list/diff?from={previous}&to={published}", "kind": "diff_page"},
        {"name": f"GET /api/v1/rosters/supplier_list/diff {previous}→{published}", "role": "city", "auth": "api",
         "path": f"/api/v1/rosters/supplier_list/diff?from={previous}&to={published}", "kind": "diff"},
        {"name": f"GET export.xlsx supplier_list {published}", "role": "city", "auth": "api",
         "path": f"/api/v1/rosters/supplier_list/editions/{published}/export.xlsx", "kind": "export",
         "sequential": True, "runs": export_runs},
        {"name": f"POST import {len(manifest.import_usccs)} rows into draft {manifest.import_period}",
         "role": "admin", "auth": "api", "method": "POST", "kind": "import", "sequential": True, "runs": 1,
         "path": f"/api/v1/rosters/supplier_list/editions/{manifest.import_period}/import",
         "upload": str(import_path), "expect": [200, 201], "show_body": True},
    ]
    for endpoint in out:
        endpoint.setdefault("levels", levels)
    if only:  # a subset (and the trivial endpoint, which every share needs)
        out = [e for e in out if e["kind"] in ("trivial", "floor") or any(word in e["name"] for word in only)]
    return out


def accounts(manifest: Manifest) -> dict:
    names = {"admin": manifest.admin, "city": manifest.city_coordinator, "county": manifest.county_coordinator,
             "commissioner": manifest.commissioner, "leader": manifest.leader}
    return {role: {"username": name, "password": manifest.password} for role, name in names.items()}


# --- output ---------------------------------------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(rows: list[dict]) -> str:
    lines = ["| endpoint | role | clients | n | errors | p50 ms | p95 ms | p99 ms | req/s | share of trivial | KB "
             "| targets (issue 11, report only) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        extra = ""
        if r["kind"] == "export" and r.get("rss_growth_mb") is not None:
            extra = f" (worker peak +{r['rss_growth_mb']:.0f} MB)"
        share = "—" if r.get("share") is None else f"{r['share']:.0%}"
        errors = f"**{r['errors']}**" if r["errors"] else "0"
        lines.append(f"| {r['name']}{extra} | {ROLE_LABEL.get(r['role'], r['role'])} | {r['clients']} | {r['count']} "
                     f"| {errors} | {fmt(r['p50_ms'])} | {fmt(r['p95_ms'])} | {fmt(r['p99_ms'])} | {fmt(r['rps'])} "
                     f"| {share} | {r['bytes'] / 1024:,.1f} | {verdict(r.get('targets') or [])} |")
    return "\n".join(lines)


def compact_table(rows: list[dict]) -> str:
    """One line per endpoint: the first level's figures and targets, the other levels' p95 and req/s (the README's
    table; ``http_bench.py --report RESULTS.json`` prints it for a finished run)."""
    levels = sorted({r["level"] for r in rows})
    first, others = (levels[0], levels[1:]) if levels else (8, [])
    head = ("| endpoint | role | p50 ms | p95 ms | p99 ms | req/s | share of trivial | of the level's first | KB | "
            + "".join(f"p95 ms @{c} | req/s @{c} | " for c in others) + "targets (issue 11) |")
    lines = [head, "|---|---|" + "---:|" * (7 + 2 * len(others)) + "---|"]
    index = {(r["name"], r["role"], r["level"]): r for r in rows}
    for r in rows:
        if r["level"] != first:
            continue
        extra = (f" (worker peak +{r['rss_growth_mb']:.0f} MB)"
                 if r.get("rss_growth_mb") is not None and r["kind"] in ("export", "import") else "")
        runs = f", {len(r['runs_ms'])} runs" if "runs_ms" in r else ""
        share_ = "—" if r.get("share") is None else f"{r['share']:.1%}"
        level_share = r.get("share_of_level_trivial", r.get("share"))  # older results: one trivial run a level
        errors = f" **{r['errors']} errors**" if r["errors"] else ""
        cells = [f"{r['name']}{extra}{runs}{errors}", ROLE_LABEL.get(r["role"], r["role"]), fmt(r["p50_ms"]),
                 fmt(r["p95_ms"]), fmt(r["p99_ms"]), fmt(r["rps"]), share_,
                 "—" if level_share is None else f"{level_share:.1%}", f"{r['bytes'] / 1024:,.1f}"]
        for c in others:
            other = index.get((r["name"], r["role"], c))
            cells += [fmt(other["p95_ms"]), fmt(other["rps"])] if other else ["", ""]
        cells.append(verdict(r.get("targets") or []))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict:
    import platform

    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True,  # noqa: S607
                                text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,  # noqa: S607
                               capture_output=True, text=True, check=False).stdout.strip()
    except OSError:  # no git (an unpacked release)
        commit, dirty = "", ""
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "commit": commit + ("+uncommitted" if dirty else "")}


# --- main -----------------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL,
                        help="the PostgreSQL server (its database is only used to create the bench database)")
    parser.add_argument("--smoke", action="store_true",
                        help="1%% of the size, short runs (`make bench-smoke`): --fraction 0.01 --duration 2 "
                             "--duration-high 1 --export-runs 1 unless given")
    parser.add_argument("--fraction", type=float, help="size as a share of the full data set (default 1)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--reuse", metavar="NAME",
                        help="use the database NAME (crm_bench_…) and keep it; skip generation when it was made with "
                             "the same seed and size (migrations still run)")
    parser.add_argument("--keep", action="store_true", help="keep the generated database (its name is printed)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--clients", default="8,32", help="concurrency levels, comma-separated (default 8,32)")
    parser.add_argument("--duration", type=float, help="seconds per endpoint at the first level (default 15)")
    parser.add_argument("--duration-high", type=float, help="seconds per endpoint at the other levels (default 5)")
    parser.add_argument("--paired-trivial", type=float, default=0.25, metavar="FRACTION",
                        help="before each concurrent row, the trivial endpoint again for FRACTION of its duration "
                             "(at least 0.5 s): the row's share is of that run (default 0.25; 0: of the level's first)")
    parser.add_argument("--export-runs", type=int, help="XLSX exports, one at a time (default 3)")
    parser.add_argument("--skip-over-ms", type=float, default=3000.0,
                        help="skip the higher concurrency levels of an endpoint whose p50 at the first level is over "
                             "this (default 3000; 0: never skip)")
    parser.add_argument("--json", metavar="PATH", help="default benchmarks/results/<UTC time>.json")
    parser.add_argument("--generate-only", action="store_true", help="make the data set and stop")
    parser.add_argument("--only", action="append", metavar="WORD",
                        help="measure only the endpoints whose name contains WORD (repeatable; the trivial one always)")
    parser.add_argument("--report", metavar="RESULTS", help="print the compact table of a finished run's JSON and stop")
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.fraction = args.fraction or (0.01 if smoke else 1.0)
    args.duration = args.duration or (2.0 if smoke else 15.0)
    args.duration_high = args.duration_high or (1.0 if smoke else 5.0)
    args.export_runs = args.export_runs or (1 if smoke else 3)
    args.levels = [int(c) for c in args.clients.split(",") if c.strip()]
    if args.reuse and not args.reuse.startswith("crm_bench_"):
        parser.error("--reuse: benchmark databases are named crm_bench_…")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        report = json.loads(Path(args.report).read_text(encoding="utf-8"))
        print(compact_table(report.get("results", [])))
        return 0
    started = perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / f"{stamp}.json"
    scale = ProvinceScale.full() if args.fraction == 1.0 else ProvinceScale.fraction(args.fraction)
    name = args.reuse or f"crm_bench_{uuid.uuid4().hex[:10]}"
    keep = bool(args.keep or args.reuse)
    url = database_url(args.database_url, name)
    report: dict = {"started_at": stamp, "machine": machine(), "load_average": {"start": os.getloadavg()},
                    "database": name, "seed": args.seed, "scale": scale.__dict__, "workers": args.workers,
                    "levels": args.levels, "duration_s": args.duration, "duration_high_s": args.duration_high,
                    "paired_trivial": args.paired_trivial}
    server = None
    status = 2
    folder = Path(tempfile.mkdtemp(prefix="crm_bench_http_"))
    try:
        existing = stored_manifest(args.database_url, name) if args.reuse else None
        if existing is not None and existing.seed == args.seed and existing.scale == scale.__dict__:
            log(f"== reusing {name} (seed {args.seed}, {scale.label()}, generated in {existing.generated_in_s} s); "
                "running the migrations")
            seconds = migrate(url, reference=False)
            log(f"  migrations {seconds:.1f} s")
            manifest = existing
            report["reused"] = True
            report["migrations_s"] = round(seconds, 1)
        else:
            if existing is not None:
                log(f"== {name} exists but was made with another seed or size: making it anew")
            create_database(args.database_url, name)
            manifest = build(url, name, args.database_url, scale, args.seed)
            report["reused"] = False
        report["data_set"] = {"counts": manifest.counts, "timings_s": manifest.timings,
                              "generated_in_s": manifest.generated_in_s, "rich_enterprise": manifest.rich_enterprise,
                              "periods": manifest.periods}
        if args.generate_only:
            status = 0
            return status
        with psycopg.connect(url) as conn:
            report["server_version"] = conn.execute("SHOW server_version").fetchone()[0]
        reset_import_draft(url, manifest)
        remove_probes(url)
        upload = import_file(manifest, folder)
        log_path = json_path.with_suffix(".gunicorn.log")
        json_path.parent.mkdir(parents=True, exist_ok=True)
        server = Server(url, args.workers, log_path)
        t0 = perf_counter()
        server.wait()
        log(f"== gunicorn ({args.workers} sync workers) up on {server.base} in {perf_counter() - t0:.1f} s; "
            f"log: {log_path}")
        plan = {"base_url": server.base, "gunicorn_pid": server.process.pid, "accounts": accounts(manifest),
                "levels": [{"clients": c, "duration": args.duration if i == 0 else args.duration_high}
                           for i, c in enumerate(args.levels)],
                "endpoints": endpoints(manifest, upload, args.export_runs, args.levels, args.only,
                                       probe_interaction(url, manifest)), "deep_page": 400,
                "skip_higher_levels_over_ms": args.skip_over_ms, "paired_trivial": args.paired_trivial}
        plan_path, out_path = folder / "plan.json", folder / "results.json"
        plan_path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
        report["load_average"]["before_load"] = os.getloadavg()
        t0 = perf_counter()
        driver = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "load.py"), "--plan", str(plan_path),  # noqa: S603
                                 "--out", str(out_path)], cwd=ROOT, check=False)
        report["load_s"] = round(perf_counter() - t0, 1)
        report["probes_removed"] = remove_probes(url)
        report["load_average"]["after_load"] = os.getloadavg()
        results = json.loads(out_path.read_text(encoding="utf-8")) if out_path.exists() else {
            "results": [], "failures": [f"load driver exited {driver.returncode} without results"]}
        report["results"] = results["results"]
        report["failures"] = results["failures"]
        report["skipped"] = results.get("skipped", [])
        status = 0 if driver.returncode == 0 and not results["failures"] else (1 if driver.returncode == 1 else 2)
        log("\n" + table(results["results"]))
        log("\n" + compact_table(results["results"]))
        if results["failures"]:
            log("\n!! ERRORS — answers with an unexpected status (see the gunicorn log "
                f"{log_path}):\n  " + "\n  ".join(results["failures"]))
            log("-- gunicorn log (tail):\n" + server.tail(60))
    except Exception as err:
        log(f"!! the benchmark harness failed: {err!r}")
        report.setdefault("failures", []).append(f"harness failed: {err!r}")
        if server is not None:
            log("-- gunicorn log (tail):\n" + server.tail(60))
        status = 2
        traceback.print_exc()
    finally:
        if server is not None:
            server.stop()
        report["total_s"] = round(perf_counter() - started, 1)
        report["exit_status"] = status
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        log(f"\n== whole run {report['total_s']:.0f} s; JSON: {json_path}")
        if keep:
            log(f"== kept the database {name} ({url})")
        else:
            drop_database(args.database_url, name)
            log(f"== dropped the database {name}")
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    return status


if __name__ == "__main__":
    sys.exit(main())
