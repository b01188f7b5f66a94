"""Per-record access: the one place every view, API endpoint and CLI command asks, and the registry behind it.

The core knows no feature. Each capability declares its rules next to its models, in
``crm/<feature>/access.py``, and registers them here for its model classes (the app factory imports those
modules). A rule answers one question twice, and a test keeps the two answers in agreement for every role and
every registered model (``tests/core/test_access_rules.py``):

- ``can(user, action, record)``: may this user do this to this one record?
- ``where(user, action)``: the same rule as a SQL condition over the model's columns (``None``: every row), so a
  list shows exactly the records the check allows — :func:`scope` applies it to a statement.

Several rules may be registered for one model: all of them must allow (the enterprise registry's rule — roles,
county — and the service's one-to-one rule — a commissioner only their assigned enterprises — both hold for an
enterprise). A record of an unregistered type is refused. The check for "no record" (may this user create, publish,
manage users at all?) is one registered general rule.

Before any rule, the core refuses an anonymous or deactivated user; everything else about roles (an admin
included) is the rules' business, read by duck typing on the user.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, False_

from crm.core.errors import Forbidden, NotFound
from crm.extensions import db


class Action(enum.StrEnum):
    VIEW = "view"
    EDIT = "edit"
    CREATE = "create"
    MANAGE_USERS = "manage_users"
    PUBLISH = "publish"  # submit, return and publish a roster edition


Condition = ColumnElement[bool] | None  # None: no restriction (every row)


class Rule(Protocol):
    """One access rule of one model, as a check of one record and as the SQL scope of the same rule."""

    def can(self, user: Any, action: Action, obj: Any) -> bool: ...

    def where(self, user: Any, action: Action) -> Condition: ...


@dataclass(frozen=True)
class Through:
    """A record judged by its parent, for the same action (a contact by its enterprise, a 诉求 by its enterprise)."""

    attr: str  # the relationship to the parent, e.g. "enterprise"
    parent: type  # the parent's model, with its own registered rule
    column: Any  # the foreign key column to the parent, e.g. ``EnterpriseContact.enterprise_id``

    def can(self, user: Any, action: Action, obj: Any) -> bool:
        parent = getattr(obj, self.attr)
        return parent is not None and can(user, action, parent)

    def where(self, user: Any, action: Action) -> Condition:
        return within(user, self.column, self.parent, action)


WHO_MAY_CHUNK = 500
_rules: dict[type, list[Rule]] = {}
_general: list[Callable[[Any, Action], bool]] = []


def register(model: type, rule: Rule) -> Rule:
    """Register ``rule`` for ``model`` (and its subclasses). Registering the same rule again changes nothing.

    A rule reads of its user only the user's own columns — id, role, county, department, specialties, active — whose
    changes move the ``reference`` data version: statements shaped by a viewer's scope are kept per viewer while it
    holds (``crm.core.cache.built_for``). Whatever else a rule depends on (assignments, an edition's status) is SQL
    in its condition (tests/core/test_access_rules.py checks what each rule reads)."""
    rules = _rules.setdefault(model, [])
    if not any(existing == rule for existing in rules):
        rules.append(rule)
    return rule


def register_general(check: Callable[[Any, Action], bool]) -> None:
    """Register the check for an action on no record in particular (create, publish, manage users)."""
    if check not in _general:
        _general.append(check)


def registered_models() -> list[type]:
    """Every model with a registered rule (the agreement test walks them all)."""
    return list(_rules)


def _rules_for(model: type) -> list[Rule]:
    for cls in model.__mro__:
        if cls in _rules:
            return _rules[cls]
    return []


def _allowed_user(user: Any) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False)) and bool(getattr(user, "active", False))


def can(user: Any, action: Action | str, obj: Any = None) -> bool:
    """May ``user`` do ``action`` to ``obj`` (a record, or ``None`` for "in general")?"""
    if not _allowed_user(user):
        return False
    action = Action(action)
    if obj is None:
        return bool(_general) and all(check(user, action) for check in _general)
    rules = _rules_for(type(obj))
    return bool(rules) and all(rule.can(user, action, obj) for rule in rules)


def require(user: Any, action: Action | str, obj: Any = None) -> None:
    """Raise unless allowed. A record the user may not even see answers 404, so its existence does not leak."""
    if can(user, action, obj):
        return
    if obj is not None and Action(action) is not Action.VIEW and can(user, Action.VIEW, obj):
        raise Forbidden("您没有权限修改该记录")
    if obj is not None:
        raise NotFound("记录不存在或您无权查看")  # = errors.HTTP_MESSAGES[404]: as if it did not exist
    raise Forbidden("您没有权限执行此操作")


_probes: ContextVar[dict[Hashable, Any] | None] = ContextVar("crm_access_probes", default=None)


@contextmanager
def shared_probes() -> Iterator[None]:
    """Within the block, a rule's database probe (:func:`probe`) runs once per key: a page that asks ``VIEW``
    and then ``EDIT`` of one record answers both from one query when the rule's probe does not depend on the
    action (the one-to-one rule's EXISTS; the fifth provincial-scale pass, benchmarks/README.md). Only around
    reads: nothing in the block may change what a probe reads. Outside such a block every probe runs."""
    token = _probes.set({})
    try:
        yield
    finally:
        _probes.reset(token)


def probe(key: Hashable, run: Callable[[], Any]) -> Any:
    """``run()``, or its answer already given for ``key`` in the enclosing :func:`shared_probes` block."""
    memo = _probes.get()
    if memo is None:
        return run()
    if key not in memo:
        memo[key] = run()
    return memo[key]


def where(user: Any, model: type, action: Action | str = Action.VIEW) -> Condition:
    """The rows of ``model`` that ``user`` may ``action``, as a SQL condition over its columns (``None``: all)."""
    if not _allowed_user(user):
        return sa.false()
    action = Action(action)
    rules = _rules_for(model)
    if not rules:
        return sa.false()
    return all_of(*(rule.where(user, action) for rule in rules))


def scope(user: Any, model: type, stmt: sa.Select, action: Action | str = Action.VIEW) -> sa.Select:
    """Restrict ``stmt`` (a query of ``model``, or one that joins it) to the rows ``user`` may ``action``."""
    condition = where(user, model, action)
    return stmt if condition is None else stmt.where(condition)


def within(user: Any, column: Any, model: type, action: Action | str = Action.VIEW) -> Condition:
    """``column`` (a foreign key to ``model``) points at a row of ``model`` that ``user`` may ``action``."""
    condition = where(user, model, action)
    if condition is None or isinstance(condition, False_):
        return condition
    key = sa.inspect(model).primary_key[0]
    # Not correlated: the caller's query may join ``model`` itself, and the subquery must keep its own FROM.
    return column.in_(sa.select(key).where(condition).correlate(None))


def all_of(*conditions: Condition) -> Condition:
    """Every condition holds (``None`` holds always; a false one makes the whole false)."""
    present = [c for c in conditions if c is not None]
    if any(isinstance(c, False_) for c in present):
        return sa.false()
    if not present:
        return None
    return present[0] if len(present) == 1 else sa.and_(*present)


def who_may(users: Iterable[Any], action: Action | str, obj: Any) -> list[Any]:
    """Those of ``users`` who may ``action`` ``obj``, judged by the registered scopes in one query (no query
    per user): e.g. who may own a request of an enterprise."""
    action = Action(action)
    model = type(obj)
    key = sa.inspect(model).primary_key[0]
    ident = sa.inspect(obj).identity[0]
    allowed, asked = [], []
    for user in users:
        condition = where(user, model, action)
        if condition is None:
            allowed.append((user, True))
        elif isinstance(condition, False_):
            allowed.append((user, False))
        else:
            allowed.append((user, None))
            asked.append(sa.select(key).where(key == ident, condition).correlate(None).exists())
    answers = iter([answer for start in range(0, len(asked), WHO_MAY_CHUNK)  # below SQLite's column limit
                    for answer in db.session.execute(sa.select(*asked[start:start + WHO_MAY_CHUNK])).one()])
    return [user for user, known in allowed if (next(answers) if known is None else known)]
