"""crm.core.cache.Bounded: the per-process stores of the figures, the built statements and the list's filters."""

from __future__ import annotations

import threading

from crm.core import cache


def test_the_least_recently_used_goes_first():
    store = cache.Bounded(3)
    for key in "abc":
        store.put(key, key.upper())
    assert store.get("a") == "A"  # now the most recent: b is the oldest
    store.put("d", "D")
    assert list(store) == ["c", "a", "d"] and len(store) == 3
    assert store.get("b") is None


def test_put_keeps_only_what_replace_allows():
    store = cache.Bounded(4)
    seen = []
    store.put("k", 1, replace=lambda kept: seen.append(kept) or True)
    store.put("k", 2, replace=lambda kept: seen.append(kept) or kept < 1)
    assert store.get("k") == 1 and seen == [None, 1]
    store.put("k", 3)
    assert store.get("k") == 3


def test_remember_computes_once_per_key():
    store = cache.Bounded(2)
    calls = []
    for key in ("x", "x", "y", "x"):
        assert store.remember(key, lambda key=key: calls.append(key) or key * 2) == key * 2
    assert calls == ["x", "y"]
    store.remember("z", lambda: "zz")  # pushes out y, the least recently used
    assert store.remember("y", lambda: calls.append("y") or "yy") == "yy" and calls == ["x", "y", "y"]
    store.clear()
    assert len(store) == 0 and list(store) == []


def test_threads_never_grow_it_past_its_size():
    store = cache.Bounded(50)

    def fill(base: int) -> None:
        for i in range(2000):
            store.put((base, i), i)
            store.get((base, i - 1))

    threads = [threading.Thread(target=fill, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) == 50


def test_the_figures_and_the_built_statements_are_bounded_stores():
    assert isinstance(cache._entries, cache.Bounded) and cache._entries.size == cache.SIZE
    assert isinstance(cache._built, cache.Bounded) and cache._built.size == cache.BUILT_SIZE
