"""Access rules of the task ledger, registered with :mod:`crm.core.access`.

- Tasks (and their units and milestones) are the plan's, public within government: everyone signed in reads
  them. Nobody edits a task through the app (the plan is the source); admins are the only ones the rule lets.
- Progress reports: admins, coordinators and leaders read all of them; a department liaison reads their own
  department's; commissioners none (their work is their enterprises).
- A report is filed and amended by its unit's liaison (own department only, on tasks that name it), by admins and
  city-wide coordinators for any unit, and by a county coordinator for their county's government
  (:func:`may_file`); leaders change nothing.
- Attachments are judged by their report (:class:`Through`); deleting one is for its uploader or who may file
  for the unit other than a liaison (:func:`may_detach`).
- The settings (cadence, grace) are for admins (:func:`may_edit_settings`), one row, not a list.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action, Condition, Through
from crm.reference.models import Department
from crm.tasks.models import ProgressReport, ReportAttachment, Task

READ_ALL = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "active", False))


def _role(user: Any) -> Role | None:
    return getattr(user, "role", None)


def may_edit_settings(user: Any) -> bool:
    return _active(user) and _role(user) is Role.ADMIN


def may_file_for(user: Any, department: Department) -> bool:
    """Whether ``user`` may file (and amend) reports for ``department`` at all (whatever the task)."""
    if not _active(user):
        return False
    role = _role(user)
    if role is Role.ADMIN:
        return True
    if role is Role.COORDINATOR:
        return user.county_id is None or department.county_id == user.county_id
    if role is Role.LIAISON:
        return user.department_id is not None and user.department_id == department.id
    return False


def may_file(user: Any, task: Task, department: Department) -> bool:
    """``user`` may file ``department``'s report on ``task``: the task names the unit and the user may act for it."""
    return any(link.department_id == department.id for link in task.unit_links) and may_file_for(user, department)


def filing_units(user: Any, task: Task) -> list[Department]:
    """The units of ``task`` the user may file for, in the plan's order."""
    return [link.department for link in task.unit_links if may_file_for(user, link.department)]


def may_detach(user: Any, attachment: ReportAttachment) -> bool:
    """The uploader (still allowed to file for the unit), or an admin / coordinator who may file for it."""
    report = attachment.report
    if not may_file_for(user, report.department):
        return False
    return _role(user) is not Role.LIAISON or attachment.uploaded_by_id == user.id


class TaskRule:
    """Everyone signed in reads the plan's tasks; only admins may edit (no page does)."""

    def can(self, user: Any, action: Action, task: Task) -> bool:
        return self.where(user, action) is None

    def where(self, user: Any, action: Action) -> Condition:
        if action is Action.VIEW or (action is Action.EDIT and _role(user) is Role.ADMIN):
            return None
        return sa.false()


class ReportRule:
    """Read: admins, coordinators, leaders all; a liaison their department's. Change: :func:`may_file_for`."""

    def can(self, user: Any, action: Action, report: ProgressReport) -> bool:
        role = _role(user)
        if action is Action.VIEW:
            return role in READ_ALL or (role is Role.LIAISON and report.department_id == user.department_id)
        if action is Action.EDIT:
            return may_file_for(user, report.department)
        return False

    def where(self, user: Any, action: Action) -> Condition:
        role = _role(user)
        if action is Action.VIEW:
            if role in READ_ALL:
                return None
            if role is Role.LIAISON and user.department_id is not None:
                return ProgressReport.department_id == user.department_id
            return sa.false()
        if action is Action.EDIT:
            if role is Role.ADMIN or (role is Role.COORDINATOR and user.county_id is None):
                return None
            if role is Role.COORDINATOR:
                return ProgressReport.department_id.in_(
                    sa.select(Department.id).where(Department.county_id == user.county_id).correlate(None))
            if role is Role.LIAISON and user.department_id is not None:
                return ProgressReport.department_id == user.department_id
        return sa.false()


access.register(Task, TaskRule())
access.register(ProgressReport, ReportRule())
access.register(ReportAttachment, Through("report", ProgressReport, ReportAttachment.report_id))
