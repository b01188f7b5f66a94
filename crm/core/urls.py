"""Links of a page's many rows at the cost of one ``url_for``."""

from __future__ import annotations

from typing import Any

from flask import url_for


class IdUrls:
    """``url_for(endpoint, <key>=id, **values)`` for the many ids of a page at the cost of one call: the URL is built
    once around a marker id, and each id is put in the marker's place. Same string as ``url_for`` (an id is digits:
    nothing in it to quote). A page of 30–50 rows made 90–110 ``url_for`` calls, ≈ 3–4 ms of a view (benchmarks/
    README.md, "Fourth pass: workspace and ledger"). In the core since the enterprise list uses it too (a layer
    below the service, where it was born)."""

    MARK = 918273645

    def __init__(self, endpoint: str, key: str, **values: Any) -> None:
        self.head, found, self.tail = url_for(endpoint, **{key: self.MARK}, **values).partition(str(self.MARK))
        assert found, endpoint

    def __call__(self, id_: int) -> str:
        return f"{self.head}{int(id_)}{self.tail}"
