"""The over-HTTP benchmark's maths: percentiles, one endpoint's summary, and issue 11's targets (report only).

Standard library only: the load driver (``benchmarks/load.py``, its own process) imports this too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

# issue 11, item 3 (8 concurrent clients, 2 cores); reported, never enforced
READ_P95_MS = 100.0
DIFF_P95_MS = 1000.0
EXPORT_MS = 10_000.0
EXPORT_GROWTH_MB = 100.0
IMPORT_MS = 10_000.0
LIST_SHARE = 0.30
PAGE_BYTES = 150 * 1024


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q ≤ 100) of ``values``: the smallest value with at least q% of
    the values at or below it (``nan`` for no values). p50 of [1, 2, 3, 4] is 2, p95 of 1 … 100 is 95."""
    if not values:
        return math.nan
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is outside (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


def summarize(latencies_ms: Sequence[float], *, errors: int, elapsed_s: float, bytes_: int) -> dict:
    """One endpoint at one concurrency: ``latencies_ms`` of every completed request (errors included: they took
    time too), ``errors`` the answers with an unexpected status or none, ``elapsed_s`` the wall time of the run,
    ``bytes_`` the size of one answer's body. Requests per second count the good answers only."""
    count = len(latencies_ms)
    good = max(count - errors, 0)
    return {
        "count": count,
        "errors": errors,
        "p50_ms": _round(percentile(latencies_ms, 50)),
        "p95_ms": _round(percentile(latencies_ms, 95)),
        "p99_ms": _round(percentile(latencies_ms, 99)),
        "max_ms": _round(max(latencies_ms)) if latencies_ms else None,
        "rps": round(good / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        "bytes": bytes_,
    }


def _round(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 2)


def share(rps: float, trivial_rps: float | None) -> float | None:
    """Throughput as a share of the trivial endpoint's (``None`` when that is unknown or zero)."""
    if not trivial_rps:
        return None
    return round(rps / trivial_rps, 4)


def targets(kind: str, row: dict) -> list[dict]:
    """Issue 11's targets that apply to an endpoint of ``kind`` (``read``, ``list``, ``page`` and ``list_page``
    are reads; ``diff`` (API) and ``diff_page``, ``export``, ``import``, ``trivial``), each
    ``{"target", "value", "met"}``; ``met`` is ``None`` when the value is missing. ``row`` is a :func:`summarize`
    result (plus ``share``, ``rss_growth_mb``)."""
    out: list[dict] = []

    def check(label: str, value: float | None, ok: Callable[[float], bool] | None) -> None:
        out.append({"target": label, "value": value, "met": None if value is None or ok is None else ok(value)})

    p95 = row.get("p95_ms")
    if kind in ("read", "list", "page", "list_page"):
        check(f"p95 ≤ {READ_P95_MS:g} ms", p95, lambda v: v <= READ_P95_MS)
    if kind in ("list", "list_page"):
        check(f"throughput ≥ {LIST_SHARE:.0%} of trivial", row.get("share"), lambda v: v >= LIST_SHARE)
    if kind in ("page", "list_page", "diff_page"):
        check(f"page ≤ {PAGE_BYTES // 1024} KB", row.get("bytes"), lambda v: v <= PAGE_BYTES)
    if kind in ("diff", "diff_page"):
        check(f"p95 ≤ {DIFF_P95_MS:g} ms", p95, lambda v: v <= DIFF_P95_MS)
    if kind == "export":
        check(f"time ≤ {EXPORT_MS / 1000:g} s", row.get("max_ms"), lambda v: v <= EXPORT_MS)
        check(f"worker memory growth < {EXPORT_GROWTH_MB:g} MB", row.get("rss_growth_mb"),
              lambda v: v < EXPORT_GROWTH_MB)
    if kind == "import":
        check(f"time ≤ {IMPORT_MS / 1000:g} s", row.get("max_ms"), lambda v: v <= IMPORT_MS)
    return out


def verdict(checks: list[dict]) -> str:
    """``met``, ``NOT MET (…)`` or ``—`` (no target / unknown), for the table."""
    if not checks:
        return "—"
    missed = [c["target"] for c in checks if c["met"] is False]
    if missed:
        return "NOT MET: " + "; ".join(missed)
    if any(c["met"] is None for c in checks):
        return "unknown"
    return "met"

