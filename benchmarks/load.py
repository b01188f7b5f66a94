"""The load driver: its own process, driving the app over HTTP on loopback (``benchmarks/http_bench.py`` starts it).

    python benchmarks/load.py --plan PLAN.json --out RESULTS.json

The plan (JSON, written by ``http_bench.py``) names the server, the accounts, the endpoints and the concurrency
levels. The driver signs in once per role — a real ``GET /login`` + ``POST /login`` with the CSRF token for pages
(the session cookie is then shared by that role's clients), ``POST /api/v1/auth/token`` for ``/api/v1`` — so the
sign-in throttle never sees more than a handful of sign-ins. Then, per concurrency level and endpoint, N threads
each with its own persistent ``http.client`` connection (gunicorn's sync workers close it after every answer; it
reconnects) send requests for D seconds; every answer is read to its end and timed. An answer whose status is not
the expected one is an error (printed at once, with the start of its body).

``sequential`` endpoints (the XLSX export, the import, the first view after a write) run one at a time, ``runs``
times, each run after its ``before`` write if it has one (sent untimed: a new 服务记录, whose commit moves the
cached figures' data version); around each export the
gunicorn workers' VmHWM / VmRSS are read from /proc (the peak is reset first through ``clear_refs`` where the kernel
allows it), which gives the worker memory growth of the export.

Cookies are kept by hand: the production settings mark them ``Secure`` and a cookie jar would not send them back
over plain http (PITFALLS, browsers).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.stats import share, summarize, targets  # noqa: E402

CSRF = (re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"'),
        re.compile(r'name="csrf_token" value="([^"]+)"'))


class Session:
    """One role's credentials: the page cookies or the API token."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.token = ""

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=300)

    def headers(self, auth: str) -> dict[str, str]:
        headers = {"User-Agent": "crm-bench-load/1", "Accept-Encoding": "identity"}
        if auth == "page" and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if auth == "api" and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            pair = header.split(";", 1)[0]
            if "=" in pair:
                name, value = pair.split("=", 1)
                self.cookies[name.strip()] = value.strip()

    def sign_in_page(self, username: str, password: str) -> None:
        conn = self.connection()
        conn.request("GET", "/login", headers=self.headers("page"))
        response = conn.getresponse()
        html = response.read().decode("utf-8", "replace")
        self._keep_cookies(response)
        match = CSRF[0].search(html) or CSRF[1].search(html)
        if response.status != 200 or not match:
            raise RuntimeError(f"GET /login: {response.status}, CSRF token {'found' if match else 'missing'}")
        body = urlencode({"username": username, "password": password, "csrf_token": match.group(1)})
        headers = self.headers("page") | {"Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", "/login", body=body, headers=headers)
        response = conn.getresponse()
        text = response.read()
        self._keep_cookies(response)
        conn.close()
        if response.status != 302:
            raise RuntimeError(f"sign-in of {username}: POST /login answered {response.status}: {text[:300]!r}")

    def sign_in_api(self, username: str, password: str) -> None:
        conn = self.connection()
        body = json.dumps({"username": username, "password": password})
        conn.request("POST", "/api/v1/auth/token", body=body,
                     headers=self.headers("none") | {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if response.status != 201:
            raise RuntimeError(f"API token of {username}: {response.status}: {data[:300]!r}")
        self.token = json.loads(data)["token"]


def one_request(conn: http.client.HTTPConnection, method: str, path: str, headers: dict, body: bytes | None
                ) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.will_close:
        conn.close()
    return response.status, data


# --- the gunicorn workers' memory --------------------------------------------------------------------------------

def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(pids)


def memory_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/pid/clear_refs``, Linux ≥ 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# --- running -------------------------------------------------------------------------------------------------------

class Driver:
    def __init__(self, plan: dict):
        self.plan = plan
        base = urlsplit(plan["base_url"])
        self.host, self.port = base.hostname, base.port
        self.sessions: dict[str, Session] = {}
        self.failures: list[str] = []
        self.results: list[dict] = []
        self.skipped: list[dict] = []

    def log(self, message: str) -> None:
        print(message, flush=True)

    def session(self, role: str) -> Session:
        if role not in self.sessions:
            session = Session(self.host, self.port)
            if role != "anonymous":
                account = self.plan["accounts"][role]
                session.sign_in_page(account["username"], account["password"])
                session.sign_in_api(account["username"], account["password"])
            self.sessions[role] = session
        return self.sessions[role]

    def resolve(self, endpoint: dict) -> str:
        """The path, with ``{deep}`` replaced by page 400 or the role's last page if it has fewer."""
        path = endpoint["path"]
        if "{deep}" in path:
            session = self.session(endpoint["role"])
            conn = session.connection()
            status, data = one_request(conn, "GET", "/api/v1/enterprises?per_page=50", session.headers("api"), None)
            conn.close()
            if status != 200:
                raise RuntimeError(f"enterprise count for {endpoint['role']}: {status}")
            total = json.loads(data)["total"]
            deep = max(1, min(self.plan.get("deep_page", 400), -(-total // 50)))
            path = path.replace("{deep}", str(deep))
        return path

    def load(self, endpoint: dict, clients: int, duration: float) -> dict:
        session = self.session(endpoint["role"])
        path = self.resolve(endpoint)
        headers = session.headers(endpoint["auth"])
        expect = set(endpoint.get("expect", [200]))
        method = endpoint.get("method", "GET")
        # one warm-up request, not counted: the body size, and a loud failure before the load if it errors
        conn = session.connection()
        status, data = one_request(conn, method, path, headers, None)
        conn.close()
        size = len(data)
        warm_error = None if status in expect else f"warm-up {status}: {data[:300]!r}"
        latencies: list[list[float]] = [[] for _ in range(clients)]
        errors = [0] * clients
        samples: list[str] = []
        start_gate = threading.Barrier(clients + 1)
        deadline = [0.0]

        def client(index: int) -> None:
            conn = session.connection()
            mine, start_gate_wait = latencies[index], start_gate.wait
            start_gate_wait()
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline[0]:
                    break
                try:
                    status, body = one_request(conn, method, path, headers, None)
                except (OSError, http.client.HTTPException) as err:
                    conn.close()
                    status, body = 0, repr(err).encode()
                mine.append((time.perf_counter() - t0) * 1000)
                if status not in expect:
                    errors[index] += 1
                    if len(samples) < 3:
                        samples.append(f"{status}: {body[:300]!r}")
            conn.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        deadline[0] = time.perf_counter() + duration
        started = time.perf_counter()
        start_gate.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        row = summarize([x for lat in latencies for x in lat], errors=sum(errors), elapsed_s=elapsed, bytes_=size)
        row.update({"path": path, "clients": clients, "duration_s": round(elapsed, 2), "last_status": status})
        if warm_error or samples:
            row["error_samples"] = ([warm_error] if warm_error else []) + samples
            if warm_error:
                row["errors"] += 1
        return row

    def paired_trivial(self, endpoint: dict, clients: int, duration: float) -> float | None:
        """The trivial endpoint's req/s, measured at this level for ``paired_trivial`` × ``duration`` seconds (at
        least 0.5 s) just before ``endpoint``, so that its share compares two runs on the machine as it was then.

        Why: the trivial row opens each level and the rows after it run for minutes; a machine whose speed drifts
        meanwhile (a shared host: the trivial endpoint moved between ≈ 590 and 1,290 req/s within one run on the
        tenth pass's machine) skews every later share, up or down. ``None``: not paired (the trivial row itself,
        pairing off, or no trivial endpoint in the plan). A wrong answer in that run fails the run, as in any row."""
        fraction = self.plan.get("paired_trivial", 0)
        trivial = next((e for e in self.plan["endpoints"] if e["kind"] == "trivial"), None)
        if not fraction or trivial is None or endpoint["kind"] == "trivial":
            return None
        row = self.load(trivial, clients, max(0.5, duration * fraction))
        if row["errors"]:
            self.failures.append(f"the trivial run before {endpoint['name']} ({clients} clients): "
                                 f"{row['errors']} errors")
        return row["rps"]

    def sequential(self, endpoint: dict, runs: int) -> dict:
        session = self.session(endpoint["role"])
        path = self.resolve(endpoint)
        method = endpoint.get("method", "GET")
        headers = dict(session.headers(endpoint["auth"]))
        body = None
        if endpoint.get("upload"):
            boundary = uuid.uuid4().hex
            data = Path(endpoint["upload"]).read_bytes()
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"import.xlsx\"\r\n"
                    "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n"
                    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        expect = set(endpoint.get("expect", [200]))
        master = self.plan.get("gunicorn_pid")
        latencies, errors, samples, size, growth, memory = [], 0, [], 0, [], []
        write_first = endpoint.get("before")
        for _ in range(runs):
            if write_first:  # a write first (not timed), e.g. a new 服务记录 before the dashboard's next view
                problem = self.write(write_first)
                if problem:
                    errors += 1
                    samples.append(problem)
            pids = worker_pids(master) if master else []
            reset = all(reset_peak(p) for p in pids) if pids else False
            before = {p: memory_kb(p) for p in pids}
            conn = session.connection()
            t0 = time.perf_counter()
            try:
                status, data = one_request(conn, method, path, headers, body)
            except (OSError, http.client.HTTPException) as err:
                status, data = 0, repr(err).encode()
            latencies.append((time.perf_counter() - t0) * 1000)
            conn.close()
            size = len(data)
            after = {p: memory_kb(p) for p in pids}
            # the worker that served it: the largest growth of its peak over its RSS before the request
            grown = [(after[p].get("VmHWM", 0) - before[p].get("VmRSS", 0)) / 1024 for p in pids if after[p]]
            growth.append(round(max(grown), 1) if grown else None)
            memory.append({"peak_reset": reset, "before": before, "after": after})
            if status not in expect:
                errors += 1
                samples.append(f"{status}: {data[:500]!r}")
            elif endpoint.get("show_body"):
                self.log(f"      answer: {data[:300].decode('utf-8', 'replace')}")
        row = summarize(latencies, errors=errors, elapsed_s=sum(latencies) / 1000, bytes_=size)
        known = [g for g in growth if g is not None]
        row.update({"path": path, "clients": 1, "runs_ms": [round(x, 1) for x in latencies],
                    "rss_growth_mb": max(known) if known else None, "rss_growth_per_run_mb": growth,
                    "memory": memory})
        if samples:
            row["error_samples"] = samples
        return row

    def write(self, step: dict) -> str | None:
        """Send ``step`` (role, auth, method, path, json body; expects 201), untimed; the problem, if any."""
        session = self.session(step["role"])
        headers = session.headers(step["auth"]) | {"Content-Type": "application/json"}
        conn = session.connection()
        try:
            status, data = one_request(conn, step.get("method", "POST"), step["path"], headers,
                                       json.dumps(step["json"]).encode())
        except (OSError, http.client.HTTPException) as err:
            status, data = 0, repr(err).encode()
        conn.close()
        return None if status in step.get("expect", [201]) else f"write before the run {status}: {data[:300]!r}"

    def run(self) -> dict:
        results = self.results
        first_p50: dict[tuple[str, str], float | None] = {}  # p50 at the first level, per endpoint and role
        for endpoint in self.plan["endpoints"]:  # sign in everyone first (and fail early)
            self.session(endpoint["role"])
        for level in self.plan["levels"]:
            clients, duration = level["clients"], level["duration"]
            trivial_rps = None
            self.log(f"\n== {clients} concurrent clients, {duration:g} s per endpoint")
            for endpoint in self.plan["endpoints"]:
                if endpoint.get("sequential"):
                    if level is not self.plan["levels"][0]:
                        continue
                    row = self.sequential(endpoint, endpoint.get("runs", 1))
                else:
                    if clients not in endpoint.get("levels", [clients]):
                        continue
                    key = (endpoint["name"], endpoint["role"])
                    slow = self.plan.get("skip_higher_levels_over_ms")
                    if key in first_p50 and slow and (first_p50[key] or 0) > slow:
                        # at this concurrency the queue alone would take minutes (and near the client timeout)
                        self.log(f"  {endpoint['name'][:60]:<60} skipped: p50 {first_p50[key]:,.0f} ms at "
                                 f"{self.plan['levels'][0]['clients']} clients (over {slow:,.0f} ms)")
                        self.skipped.append({"name": endpoint["name"], "role": endpoint["role"], "level": clients,
                                             "reason": f"p50 {first_p50[key]:.0f} ms at the first level"})
                        continue
                    paired = self.paired_trivial(endpoint, clients, duration)
                    row = self.load(endpoint, clients, duration)
                    first_p50.setdefault(key, row["p50_ms"])
                    if paired is not None:
                        row["trivial_paired_rps"] = paired
                if endpoint["kind"] == "trivial":
                    trivial_rps = row["rps"]
                # the share of the trivial endpoint measured just before the row when it was, else of the level's
                row["share_of_level_trivial"] = share(row["rps"], trivial_rps)
                row["share"] = share(row["rps"], row.get("trivial_paired_rps") or trivial_rps)
                row["targets"] = targets(endpoint["kind"], row) if clients == 8 or endpoint.get("sequential") else []
                row.update({"name": endpoint["name"], "role": endpoint["role"], "kind": endpoint["kind"],
                            "level": clients, "load_average": [round(x, 2) for x in os.getloadavg()]})
                results.append(row)
                flag = f"   ERRORS: {row['errors']}" if row["errors"] else ""
                self.log(f"  {endpoint['name'][:60]:<60} n={row['count']:<6} p50={row['p50_ms']} p95={row['p95_ms']} "
                         f"p99={row['p99_ms']} ms  {row['rps']} req/s  {row['bytes'] // 1024} KB{flag}")
                for sample in row.get("error_samples", []):
                    self.log(f"      !! {sample}")
                if row["errors"]:
                    self.failures.append(f"{endpoint['name']} ({clients} clients): {row['errors']} errors")
        return {"results": results, "failures": self.failures, "skipped": self.skipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load driver of the over-HTTP benchmark")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
    driver = Driver(plan)
    try:
        out = driver.run()
    except Exception as err:  # the harness broke: say so, keep what was measured
        out = {"results": driver.results, "failures": [*driver.failures, f"load driver crashed: {err!r}"]}
        print(f"!! load driver crashed: {err!r}", flush=True)
        traceback.print_exc()
        Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
        return 2
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
