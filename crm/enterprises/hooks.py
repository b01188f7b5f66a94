"""How the capabilities built on the enterprise registry add to it, without the registry importing any of them.

Three extension points, each a blinker signal that a higher capability answers from its ``subscribers`` module
(which the app factory imports). The registry sends, collects the answers and never names who gave them:

- **page sections** of 一企一档: register a function with :func:`page_section`; it names a partial template
  (one or more ``<section>`` cards of the page's grid) and its values, placed by ``order`` (lower first) between
  the registry's own cards (profile, contacts, figures, partners) and the history. Taken: the service's cards
  100, the lists' timeline 200. A new capability (meetings, the task ledger) picks its own number;
- **search filters** of the enterprise list and ``GET /api/v1/enterprises``: register a function with
  :func:`search_filter`; it narrows the search statement for the value of its query parameter (the lists:
  ``roster``), and its choices become a select on the list page;
- **history filters**: :data:`history_filters` is sent with the viewer; each answer is a condition on
  ``AuditLog`` rows (or ``None``) that keeps out what the viewer may not see of that capability (the lists: the
  rows of editions a commissioner may not open).

A receiver reads in the request's transaction and never writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from flask import render_template
from markupsafe import Markup

_signals = Namespace()

page_sections = _signals.signal("enterprise-page-sections", doc="""\
Sender: the ``Enterprise`` being shown. Keywords: ``viewer`` (the signed-in user), ``editable`` (whether they
may edit the record). Answer: a :class:`Section` or ``None``. Register through :func:`page_section`.
""")

search_filters = _signals.signal("enterprise-search-filters", doc="""\
Sender: ``None``. Answer: a :class:`SearchFilter`. Register through :func:`search_filter`.
""")

history_filters = _signals.signal("enterprise-history-filters", doc="""\
Sender: the viewer (a user). Answer: an SQL condition on ``AuditLog`` rows that the viewer's history keeps, or
``None`` when the capability hides nothing from them.
""")


# --- page sections -------------------------------------------------------------------------------------------

SectionFunc = Callable[..., tuple[str, dict[str, Any]] | None]


@dataclass(frozen=True)
class Section:
    order: int
    html: Markup


def page_section(order: int) -> Callable[[SectionFunc], SectionFunc]:
    """Register ``func(enterprise, *, viewer, editable) -> (template, values) | None`` as a section of the
    一企一档 page: the partial ``template`` (``<section class="col-12 col-xl-6">`` or ``col-12`` cards) is
    rendered with ``enterprise`` and ``values``; ``None`` shows nothing.
    """
    def register(func: SectionFunc) -> SectionFunc:
        def receiver(enterprise: Any, *, viewer: Any, editable: bool, **_: Any) -> Section | None:
            found = func(enterprise, viewer=viewer, editable=editable)
            if found is None:
                return None
            template, values = found
            # Jinja's output, autoescaped: already safe markup
            return Section(order, Markup(render_template(template, enterprise=enterprise, **values)))  # noqa: S704

        page_sections.connect(receiver, weak=False)
        return func

    return register


def sections(enterprise: Any, *, viewer: Any, editable: bool) -> list[Markup]:
    """The contributed sections of ``enterprise``'s page, in their order."""
    found = [section for _, section in page_sections.send(enterprise, viewer=viewer, editable=editable) if section]
    return [section.html for section in sorted(found, key=lambda section: section.order)]


# --- search filters ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchFilter:
    name: str  # the query parameter and ``search_statement``'s keyword
    label: str  # the list page's select
    choices: tuple[tuple[str, str], ...]  # (value, Chinese label); the page adds "不限"
    apply: Callable[[sa.Select, str], sa.Select]  # narrows the statement; refuses an unknown value (422)


def search_filter(name: str, label: str, choices: Iterable[tuple[str, str]]
                  ) -> Callable[[Callable[[sa.Select, str], sa.Select]], Callable[[sa.Select, str], sa.Select]]:
    """Register ``apply(stmt, value) -> stmt`` as the enterprise search's filter ``name``."""
    def register(apply: Callable[[sa.Select, str], sa.Select]) -> Callable[[sa.Select, str], sa.Select]:
        found = SearchFilter(name, label, tuple(choices), apply)
        search_filters.connect(lambda _sender, **_: found, weak=False)
        return apply

    return register


def registered_search_filters() -> list[SearchFilter]:
    """The search filters the capabilities registered, in the order they were connected."""
    return [found for _, found in search_filters.send(None) if found is not None]


# --- history filters -----------------------------------------------------------------------------------------

def history_conditions(viewer: Any) -> list[Any]:
    """The conditions on ``AuditLog`` rows that keep out of ``viewer``'s history what they may not see."""
    return [condition for _, condition in history_filters.send(viewer) if condition is not None]
