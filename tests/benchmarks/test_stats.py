"""The over-HTTP benchmark's maths (benchmarks/stats.py): percentiles, summaries, shares and issue 11's targets."""

import math

import pytest

from benchmarks.stats import percentile, share, summarize, targets, verdict


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1 … 100
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([4, 1, 3, 2], 50) == 2  # unsorted input; the lower middle, a value that was measured
    assert percentile([7.5], 95) == 7.5
    assert percentile([1, 2], 1) == 1
    assert math.isnan(percentile([], 95))
    with pytest.raises(ValueError):
        percentile([1], 0)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_percentile_of_a_skewed_sample():
    values = [10.0] * 94 + [500.0] * 6  # 6% slow: p95 sees them, p50 does not
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 500.0
    assert percentile([10.0] * 95 + [500.0] * 5, 95) == 10.0


def test_summary_counts_good_answers_per_second():
    row = summarize([10.0, 20.0, 30.0, 40.0], errors=1, elapsed_s=2.0, bytes_=2048)
    assert row["count"] == 4 and row["errors"] == 1
    assert row["rps"] == 1.5  # 3 good answers in 2 s
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"], row["max_ms"]) == (20.0, 40.0, 40.0, 40.0)
    assert row["bytes"] == 2048
    empty = summarize([], errors=0, elapsed_s=1.0, bytes_=0)
    assert empty["count"] == 0 and empty["p95_ms"] is None and empty["rps"] == 0.0


def test_share_of_the_trivial_endpoint():
    assert share(300.0, 1000.0) == 0.3
    assert share(5.0, None) is None
    assert share(5.0, 0.0) is None


def test_targets_of_each_kind():
    fast_list = {"p95_ms": 80.0, "share": 0.35, "bytes": 40 * 1024}
    assert verdict(targets("list_page", fast_list)) == "met"
    slow = targets("list", {"p95_ms": 920.0, "share": 0.007, "bytes": 1000})
    assert [c["met"] for c in slow] == [False, False]
    assert verdict(slow).startswith("NOT MET: p95 ≤ 100 ms; throughput ≥ 30% of trivial")
    big_page = targets("page", {"p95_ms": 50.0, "bytes": 158 * 1024})
    assert verdict(big_page) == "NOT MET: page ≤ 150 KB"
    assert verdict(targets("diff_page", {"p95_ms": 900.0, "bytes": 100 * 1024})) == "met"
    assert verdict(targets("diff", {"p95_ms": 1100.0, "bytes": 300 * 1024})) == "NOT MET: p95 ≤ 1000 ms"  # API
    assert verdict(targets("diff_page", {"p95_ms": 1100.0, "bytes": 300 * 1024})) == \
        "NOT MET: page ≤ 150 KB; p95 ≤ 1000 ms"
    export = targets("export", {"max_ms": 9000.0, "rss_growth_mb": 120.0})
    assert verdict(export) == "NOT MET: worker memory growth < 100 MB"
    assert verdict(targets("export", {"max_ms": 9000.0, "rss_growth_mb": None})) == "unknown"
    assert verdict(targets("import", {"max_ms": 12000.0})) == "NOT MET: time ≤ 10 s"
    assert targets("trivial", {"p95_ms": 3.0}) == [] and verdict([]) == "—"
    assert targets("floor", {"p95_ms": 300.0, "share": 0.01, "bytes": 500 * 1024}) == []  # measured, never judged


def test_the_plan_keeps_the_trivial_endpoint_and_the_floors_whatever_is_chosen():
    from pathlib import Path

    from benchmarks.http_bench import Manifest, endpoints

    manifest = Manifest(seed=1, scale={}, periods=["2026H1", "2026H2", "2027H1"], rich_enterprise=1,
                        import_usccs=["x"], import_period="2027H2")
    plan = endpoints(manifest, Path("/tmp/x.xlsx"), 1, [8], only=["diff"])
    kinds = [e["kind"] for e in plan]
    assert kinds[:4] == ["trivial", "floor", "floor", "floor"]
    assert {e["kind"] for e in plan[4:]} == {"diff", "diff_page"}
    assert [e["path"] for e in plan[1:4]] == ["/healthz", "/api/v1/enterprises?per_page=1", "/notifications/"]


def test_the_first_view_after_a_write_is_planned_only_with_a_probe_and_logs_it_first():
    from pathlib import Path

    from benchmarks.http_bench import Manifest, endpoints

    manifest = Manifest(seed=1, scale={}, periods=["2026H1", "2026H2", "2027H1"], rich_enterprise=7,
                        import_usccs=["x"], import_period="2027H2")
    assert not [e for e in endpoints(manifest, Path("/tmp/x.xlsx"), 1, [8]) if e["kind"] == "after_write"]
    probe = {"enterprise_id": 7, "date": "2026-12-06", "channel": "visit", "specialty": "tech", "summary": "x"}
    [row] = [e for e in endpoints(manifest, Path("/tmp/x.xlsx"), 1, [8], only=["service"], probe=probe)
             if e["kind"] == "after_write"]
    assert row["sequential"] and row["runs"] > 1 and row["path"] == "/dashboard/service/"
    assert row["before"] == {"role": "commissioner", "auth": "api", "method": "POST", "path": "/api/v1/interactions",
                             "json": probe}
    assert targets("after_write", {"p95_ms": 900.0}) == []  # reported, never judged


def _driver(paired: float, rps: dict[str, list[float]], errors: dict[str, list[int]] | None = None):
    """A load driver whose runs are recorded, not sent: each endpoint answers its next req/s from ``rps``."""
    from benchmarks.load import Driver

    endpoints = [{"name": "trivial", "role": "anonymous", "auth": "none", "path": "/t", "kind": "trivial"},
                 {"name": "list", "role": "admin", "auth": "page", "path": "/l", "kind": "list_page"},
                 {"name": "export", "role": "admin", "auth": "page", "path": "/x", "kind": "export",
                  "sequential": True}]
    driver = Driver({"base_url": "http://127.0.0.1:1", "accounts": {}, "endpoints": endpoints, "paired_trivial": paired,
                     "levels": [{"clients": 8, "duration": 12.0}, {"clients": 32, "duration": 1.0}]})
    runs: list[tuple[str, int, float]] = []

    def load(endpoint, clients, duration):
        runs.append((endpoint["name"], clients, duration))
        wrong = (errors or {}).get(endpoint["name"])
        return {"rps": rps[endpoint["name"]].pop(0), "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0,
                "errors": wrong.pop(0) if wrong else 0, "count": 1, "bytes": 100}

    driver.session = lambda role: None
    driver.load = load
    driver.sequential = lambda endpoint, runs_: {"rps": 0.5, "p50_ms": 2e3, "p95_ms": 2e3, "p99_ms": 2e3, "max_ms": 2e3,
                                                "errors": 0, "count": 1, "bytes": 100}
    return driver, runs


def test_each_concurrent_row_is_shared_against_the_trivial_endpoint_measured_just_before_it():
    driver, runs = _driver(0.25, {"trivial": [1000.0, 700.0, 900.0, 600.0], "list": [280.0, 150.0]})
    rows = driver.run()["results"]
    assert runs == [("trivial", 8, 12.0), ("trivial", 8, 3.0), ("list", 8, 12.0),
                    ("trivial", 32, 1.0), ("trivial", 32, 0.5), ("list", 32, 1.0)]  # at least 0.5 s
    listed = [r for r in rows if r["name"] == "list"]
    assert [r["trivial_paired_rps"] for r in listed] == [700.0, 600.0]
    assert [r["share"] for r in listed] == [0.4, 0.25]  # 280/700, 150/600: of the run just before
    assert [r["share_of_level_trivial"] for r in listed] == [0.28, 0.1667]  # 280/1000, 150/900
    assert listed[0]["targets"][1] == {"target": "throughput ≥ 30% of trivial", "value": 0.4, "met": True}
    trivial = [r for r in rows if r["name"] == "trivial"]
    assert [r["share"] for r in trivial] == [1.0, 1.0] and "trivial_paired_rps" not in trivial[0]
    [export] = [r for r in rows if r["name"] == "export"]  # one at a time, not paired
    assert "trivial_paired_rps" not in export and export["share"] == 0.0005


def test_without_pairing_every_share_is_of_the_levels_trivial_run():
    driver, runs = _driver(0, {"trivial": [1000.0, 900.0], "list": [280.0, 150.0]})
    rows = driver.run()["results"]
    assert [name for name, _, _ in runs] == ["trivial", "list", "trivial", "list"]
    assert [r["share"] for r in rows if r["name"] == "list"] == [0.28, 0.1667]


def test_a_wrong_answer_in_a_paired_trivial_run_fails_the_run():
    driver, _runs = _driver(0.25, {"trivial": [1000.0, 700.0, 900.0, 600.0], "list": [280.0, 150.0]},
                            errors={"trivial": [0, 2, 0, 0]})
    assert driver.run()["failures"] == ["the trivial run before list (8 clients): 2 errors"]
