"""Access rules of the "一对一" service, registered with :mod:`crm.core.access`.

- One-to-one: a commissioner reads and changes only the enterprises actively assigned to them (added to the
  enterprise registry's own rule, ``crm.enterprises.access``, so both hold).
- Assignments are seen with their enterprise; only admins and coordinators who may change the enterprise
  assign (a commissioner may edit their enterprises but never reassign them).
- 服务记录, 诉求 and 政策兑现 are judged by their enterprise; a commissioner corrects only the 服务记录 they
  logged themselves (:func:`authored`).
- A department liaison officer (部门联络员, issue 12 item 2) sees and moves only the 诉求 and 政策兑现 routed to
  their department (``department_id``), whatever the enterprise; the enterprise's own records (一企一档,
  contacts, assignments, 服务记录) stay refused to them by the registry's rule. What a liaison may *do* to a
  routed record (no closing, no editing the promise) is the domain's rule (``crm.service.routing``); who routes
  is :func:`may_route`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action, Condition, Through
from crm.core.transactions import prepared
from crm.enterprises import access as _registry  # noqa: F401  (its rule first: the county before the EXISTS)
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service.models import Assignment, Interaction, PolicyDelivery, ServiceRequest

ASSIGNERS = (Role.ADMIN, Role.COORDINATOR)


def actively_assigned(user: Any) -> sa.ColumnElement[bool]:
    """An assignment of ``user`` that has not ended: what "their enterprises" means, in every rule that asks."""
    return sa.and_(Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None))


def assigned_enterprise_ids(user: Any) -> sa.Select:
    """``SELECT enterprise_id`` of the user's active assignments."""
    return sa.select(Assignment.enterprise_id).where(actively_assigned(user))


class OneToOne:
    """A commissioner's enterprises are the ones actively assigned to them; no restriction for other roles."""

    def can(self, user: Any, action: Action, enterprise: Enterprise) -> bool:
        if user.role is not Role.COMMISSIONER:
            return True
        # one EXISTS, not all of their ids (ix_assignments_active_commissioner); the same for every action, so
        # asked once per record inside access.shared_probes() (一企一档 asks VIEW, then EDIT)
        return bool(access.probe(("assigned", user.id, enterprise.id), lambda: db.session.scalar(prepared(sa.select(
            sa.exists().where(actively_assigned(user), Assignment.enterprise_id == enterprise.id))))))

    def where(self, user: Any, action: Action) -> Condition:
        if user.role is not Role.COMMISSIONER:
            return None
        return Enterprise.id.in_(assigned_enterprise_ids(user))


def may_assign(user: Any) -> bool:
    """Whether the user assigns at all (shows the bulk tools); per enterprise see :func:`can_assign`."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.active
                and user.role in ASSIGNERS)


def can_assign(user: Any, enterprise: Enterprise) -> bool:
    """Admins and coordinators who may change the enterprise (a county coordinator: their county's).

    ``can(EDIT)`` alone is not enough: a commissioner may edit their enterprises but must not reassign them.
    """
    return may_assign(user) and access.can(user, Action.EDIT, enterprise)


class AssignmentRule:
    """Seen with the enterprise; changed (ended, handed over) by who may assign for the enterprise."""

    def can(self, user: Any, action: Action, assignment: Assignment) -> bool:
        if action is Action.EDIT:
            return can_assign(user, assignment.enterprise)
        return action is Action.VIEW and access.can(user, action, assignment.enterprise)

    def where(self, user: Any, action: Action) -> Condition:
        if action is Action.EDIT and not may_assign(user):
            return sa.false()
        if action not in (Action.VIEW, Action.EDIT):
            return sa.false()
        return access.within(user, Assignment.enterprise_id, Enterprise, action)


def authored(user: Any, interaction: Interaction) -> bool:
    """A commissioner corrects only the 服务记录 they logged (or one logged by nobody); other roles any they may
    change."""
    return getattr(user, "role", None) is not Role.COMMISSIONER or interaction.created_by_id in (None, user.id)


def is_liaison(user: Any) -> bool:
    return getattr(user, "role", None) is Role.LIAISON


class RoutedOrEnterprise:
    """A 诉求 or a 政策兑现: a liaison's are those routed to their department (read and moved); everyone else's
    are judged by the enterprise (``Through``)."""

    def __init__(self, model: type) -> None:
        self.model = model
        self.through = Through("enterprise", Enterprise, model.enterprise_id)

    def can(self, user: Any, action: Action, record: Any) -> bool:
        if is_liaison(user):
            return (action in (Action.VIEW, Action.EDIT) and user.department_id is not None
                    and record.department_id == user.department_id)
        return self.through.can(user, action, record)

    def where(self, user: Any, action: Action) -> Condition:
        if is_liaison(user):
            if action not in (Action.VIEW, Action.EDIT) or user.department_id is None:
                return sa.false()
            return self.model.department_id == user.department_id
        return self.through.where(user, action)

    def __eq__(self, other: object) -> bool:  # registering twice changes nothing
        return isinstance(other, RoutedOrEnterprise) and other.model is self.model

    def __hash__(self) -> int:
        return hash(self.model)


def may_route(user: Any, record: Any = None) -> bool:
    """Who routes and re-routes a 诉求 or a 政策兑现 to a department: admins and coordinators (a county coordinator
    only records of enterprises in their county). Without a record: whether the user routes at all."""
    if not may_assign(user):  # active admins and coordinators
        return False
    return record is None or access.can(user, Action.EDIT, record.enterprise)


# What a liaison may open at all: their records' pages and API, their own account and inbox, the task ledger and
# the 专项督导 rectification items of their unit (those capabilities' own rules then decide, record by record).
# Every other page and endpoint answers 403 with :data:`LIAISON_FENCED` before its view runs (``crm.web`` for
# pages, ``crm.api.auth`` for the API), so a capability added later stays closed to them until it says otherwise.
LIAISON_BLUEPRINTS = frozenset({"auth", "notifications", "tasks", "supervision"})
LIAISON_ENDPOINTS = frozenset({
    "static", "web.home", "web.healthz", "service.department_home", "service.requests_index",
    "service.requests_export", "service.request_detail", "service.request_transition", "service.request_route",
    "policy.index", "policy.detail", "policy.route"})
LIAISON_API_MODULES = frozenset({"crm.api.auth", "crm.api.notifications", "crm.api.requests", "crm.api.policy",
                                 "crm.api.openapi", "crm.api.tasks", "crm.api.supervisions"})
LIAISON_FENCED = "部门联络员只能查看和办理转办至本单位的诉求与政策兑现"


def liaison_may_open(endpoint: str | None, module: str | None = None) -> bool:
    """Whether a liaison may open ``endpoint`` (an API view judged by the module that defines it)."""
    if not endpoint:
        return True  # no route matched: the 404 answers
    if endpoint.startswith("api."):
        return module in LIAISON_API_MODULES
    return endpoint in LIAISON_ENDPOINTS or endpoint.split(".", 1)[0] in LIAISON_BLUEPRINTS


access.register(Enterprise, OneToOne())
access.register(Assignment, AssignmentRule())
access.register(Interaction, Through("enterprise", Enterprise, Interaction.enterprise_id))
for _model in (ServiceRequest, PolicyDelivery):
    access.register(_model, RoutedOrEnterprise(_model))
