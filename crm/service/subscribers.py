"""What the service hears from the capabilities below it (their blinker signals), and what it adds to their pages.

Connected once, when the app factory imports this module (``crm.create_app``). Each receiver works in the
sender's transaction and never commits.
"""

from __future__ import annotations

from typing import Any

from crm.auth.models import User
from crm.auth.signals import user_deactivated, user_updated
from crm.enterprises.hooks import page_section
from crm.enterprises.models import Enterprise
from crm.rosters.models import RosterEdition
from crm.rosters.signals import edition_published
from crm.service import assignments
from crm.service.enterprise_page import enterprise_sections

DEACTIVATED = "账号已停用"
REQUALIFIED = "用户角色、专长或区县范围变更"


@edition_published.connect
def _end_unlisted(edition: RosterEdition, *, actor: Any = None, **_: Any) -> None:
    """Enterprises now on neither list: their assignments end and the commissioners are told."""
    assignments.end_for_unlisted(actor, edition)


@user_deactivated.connect
def _end_for_deactivated(user: User, *, actor: Any = None, **_: Any) -> None:
    assignments.end_for_changed_commissioner(actor, user, DEACTIVATED)


@user_updated.connect
def _end_unqualified(user: User, *, actor: Any = None, **_: Any) -> None:
    """A new role, specialties or county scope: the assignments the user no longer qualifies for end."""
    assignments.end_for_changed_commissioner(actor, user, REQUALIFIED)


@page_section(order=100)
def _service_cards(enterprise: Enterprise, *, viewer: Any, editable: bool) -> tuple[str, dict[str, Any]]:
    """一企一档: 服务专员, 诉求, 服务记录, 政策兑现."""
    return "service/_enterprise_sections.html", {"service": enterprise_sections(enterprise, viewer, editable)}
