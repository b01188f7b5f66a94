"""服务记录 (interactions): logging, correcting and listing the visits, calls, online exchanges and meetings.

Rules (issue 4, point 3):

- ``date`` is required, ``YYYY-MM-DD``, not in the future (Asia/Shanghai) and not before 2000-01-01;
- ``channel`` is ``visit`` / ``call`` / ``online`` / ``meeting``;
- ``specialty`` is required; when the actor is a commissioner it must be one of *their* specialties (a tech
  commissioner logs tech service, whichever enterprise it is for);
- ``summary`` is required, at most :data:`SUMMARY_MAX` characters; ``participants`` at most
  :data:`PARTICIPANTS_MAX`;
- ``next_follow_up`` is optional and, when given, not before ``date``;
- a commissioner corrects only the records they logged themselves; coordinators and admins correct any record
  they can edit.

Access to the enterprise is the caller's business (``require(user, Action.EDIT, enterprise)`` before
:func:`log_interaction`, ``require(user, Action.EDIT, interaction)`` before :func:`update_interaction`).
Every write adds an audit row (``entity_type="interaction"``) with the enterprise id and a Chinese summary.
Nothing here commits: the caller commits once at the end.

Also here, shared with :mod:`crm.service.requests`: :func:`parse_date` and :func:`check_version`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, Specialty, User
from crm.core.access import scope
from crm.core.audit import jsonable, record
from crm.core.errors import Forbidden, ValidationFailed
from crm.core.messages import STALE_MESSAGE  # noqa: F401 - the domain's stale message, for callers
from crm.core.parsing import check_version, parse_enum
from crm.core.time import local_today
from crm.core.transactions import lock_for_update
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service.access import authored
from crm.service.models import Channel, Interaction

SUMMARY_MAX = 4000
PARTICIPANTS_MAX = 300  # the column's length
EARLIEST = date(2000, 1, 1)
LATEST_FOLLOW_UP = date(2100, 12, 31)
FIELDS = ("date", "channel", "specialty", "participants", "summary", "next_follow_up")
INVALID_MESSAGE = "服务记录有误"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Audit/model attribute of each input field.
_ATTRIBUTES = {"date": "occurred_on", "channel": "channel", "specialty": "specialty",
               "participants": "participants", "summary": "summary", "next_follow_up": "next_follow_up"}


# --- shared helpers ----------------------------------------------------------------------------------------

def parse_date(value: Any, field: str, fields: dict[str, str], *, label: str, required: bool = False) -> date | None:
    """A ``YYYY-MM-DD`` string (or a ``date``) as a date; a problem goes into ``fields[field]`` (Chinese).

    Empty (``None`` / ``""``) gives ``None``, or "请填写{label}" when ``required``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            fields[field] = f"请填写{label}"
        return None
    if isinstance(value, datetime):
        fields[field] = f"{label}应为日期(YYYY-MM-DD),不含时间"
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    fields[field] = f"{label}格式应为 YYYY-MM-DD 的有效日期"
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return str(value).strip()


def specialty_allowed(actor: Any, specialty: Specialty) -> bool:
    """A commissioner logs only their own specialties; other roles any."""
    if getattr(actor, "role", None) is not Role.COMMISSIONER:
        return True
    return specialty in actor.specialties


# --- validation --------------------------------------------------------------------------------------------

def validate_interaction(actor: Any, data: dict[str, Any], *, existing: Interaction | None = None,
                         partial: bool = False, today: date | None = None) -> dict[str, Any]:
    """Check ``data`` (keys of :data:`FIELDS`; others are ignored here, the API refuses them).

    Returns model values (``occurred_on``, ``channel``, …) for the fields given (all of them unless
    ``partial``). Raises ``ValidationFailed`` with every field's problem at once, in Chinese.
    """
    today = today or local_today()
    fields: dict[str, str] = {}
    values: dict[str, Any] = {}

    def wanted(key: str) -> bool:
        return not partial or key in data

    if wanted("date"):
        day = parse_date(data.get("date"), "date", fields, label="服务日期", required=True)
        if day is not None:
            if day > today:
                fields["date"] = f"服务日期不能晚于今天({today.isoformat()})"
            elif day < EARLIEST:
                fields["date"] = "服务日期不能早于2000-01-01"
            else:
                values["occurred_on"] = day
    if wanted("channel"):
        channel = parse_enum(Channel, data.get("channel"), field="channel", what="服务方式", fields=fields,
                             required=True)
        if channel is not None:
            values["channel"] = channel
    if wanted("specialty"):
        specialty = parse_enum(Specialty, data.get("specialty"), field="specialty", what="服务领域", fields=fields,
                               required=True)
        if specialty is not None:
            if specialty_allowed(actor, specialty):
                values["specialty"] = specialty
            else:
                own = "、".join(s.label for s in actor.specialties) or "无"
                fields["specialty"] = f"只能登记您本人专长领域的服务记录(您的专长:{own})"
    for key, label in (("participants", "参与人员"), ("summary", "服务内容摘要")):
        if wanted(key) and data.get(key) is not None and not isinstance(data.get(key), str):
            fields[key] = f"{label}应为文本"
    if wanted("participants") and "participants" not in fields:
        participants = _text(data.get("participants"))
        if len(participants) > PARTICIPANTS_MAX:
            fields["participants"] = f"参与人员最长{PARTICIPANTS_MAX}个字符"
        else:
            values["participants"] = participants
    if wanted("summary") and "summary" not in fields:
        summary = _text(data.get("summary"))
        if not summary:
            fields["summary"] = "请填写服务内容摘要"
        elif len(summary) > SUMMARY_MAX:
            fields["summary"] = f"服务内容摘要最长{SUMMARY_MAX}个字符"
        else:
            values["summary"] = summary
    if wanted("next_follow_up"):
        follow_up = parse_date(data.get("next_follow_up"), "next_follow_up", fields, label="下次跟进日期")
        if "next_follow_up" not in fields:
            if follow_up is not None and follow_up > LATEST_FOLLOW_UP:
                fields["next_follow_up"] = "下次跟进日期过远"
            else:
                values["next_follow_up"] = follow_up
    occurred = values.get("occurred_on", existing.occurred_on if existing else None)
    follow_up = values.get("next_follow_up", existing.next_follow_up if existing else None)
    if (occurred and follow_up and follow_up < occurred and "date" not in fields
            and "next_follow_up" not in fields):
        fields["next_follow_up"] = "下次跟进日期不能早于服务日期"
    if fields:
        raise ValidationFailed(INVALID_MESSAGE, fields)
    return values


def _label(interaction: Interaction) -> str:
    return f"{interaction.occurred_on.isoformat()} {interaction.channel.label}({interaction.specialty.label})"


# --- writes ------------------------------------------------------------------------------------------------

def log_interaction(actor: User | None, enterprise: Enterprise, data: dict[str, Any], *,
                    today: date | None = None) -> Interaction:
    """Log a 服务记录 for ``enterprise``; returns the flushed :class:`Interaction` (with its id).

    ``data``: ``{"date", "channel", "specialty", "participants", "summary", "next_follow_up"}`` as strings
    (dates ``YYYY-MM-DD``; ``date`` objects are accepted too). ``today`` (default: today in Asia/Shanghai) is
    the "not in the future" bound. Raises ``ValidationFailed`` (422) with ``fields``. Audited; not committed.
    """
    values = validate_interaction(actor, data, today=today)
    interaction = Interaction(enterprise_id=enterprise.id, created_by_id=getattr(actor, "id", None), **values)
    interaction.enterprise = enterprise
    db.session.add(interaction)
    db.session.flush()
    record(actor, "interaction", interaction.id, "create",
           {field: [None, value] for field, value in values.items()},
           enterprise_id=enterprise.id, summary=f"登记服务记录:{_label(interaction)}")
    return interaction


def update_interaction(actor: User | None, interaction: Interaction, data: dict[str, Any], *,
                       today: date | None = None) -> Interaction:
    """Correct a 服务记录: only the fields present in ``data`` change; ``data["version"]`` guards against
    overwriting someone else's change.

    Order of refusals: a commissioner who did not log it → ``Forbidden`` (403); a stale ``version`` →
    ``Conflict`` code ``stale`` "该记录已被他人修改,请刷新后重试" (409); bad values → ``ValidationFailed`` (422).
    Nothing is written when refused. No actual change → nothing written, no audit row. Audited; not committed.
    """
    if actor is not None and not authored(actor, interaction):
        raise Forbidden("只能修改本人登记的服务记录")
    check_version(interaction, data.get("version"))
    values = validate_interaction(actor, data, existing=interaction, partial=True, today=today)
    changes = {attr: [jsonable(getattr(interaction, attr)), jsonable(value)] for attr, value in values.items()
               if jsonable(getattr(interaction, attr)) != jsonable(value)}
    if not changes:
        return interaction
    for attr in changes:
        setattr(interaction, attr, values[attr])
    db.session.flush()
    record(actor, "interaction", interaction.id, "update", changes, enterprise_id=interaction.enterprise_id,
           summary=f"修改服务记录:{_label(interaction)}")
    return interaction


def lock_interaction(interaction_id: int) -> Interaction | None:
    """Load an interaction for a change, serialising concurrent changes of it
    (:func:`crm.core.transactions.lock_for_update`), so a :func:`check_version` after it sees the committed
    version. ``None`` when there is no such interaction."""
    return lock_for_update(Interaction, interaction_id)


# --- reads -------------------------------------------------------------------------------------------------

def interactions_statement(user: User, *, enterprise_id: int | sa.BindParameter[int] | None = None,
                           commissioner_id: int | None = None, since: date | None = None,
                           until: date | None = None) -> sa.Select:
    """Interactions ``user`` may see (through :func:`crm.core.access.scope`: their enterprises'), newest first.

    Filters: one enterprise, the user who logged them (``commissioner_id``), ``occurred_on`` from ``since``
    and up to ``until`` (inclusive). Use with ``db.session.scalars`` or ``crm.core.pagination.paginate``.
    """
    stmt = sa.select(Interaction).join(Enterprise, Interaction.enterprise_id == Enterprise.id)
    stmt = scope(user, Interaction, stmt)
    if enterprise_id is not None:
        stmt = stmt.where(Interaction.enterprise_id == enterprise_id)
    if commissioner_id is not None:
        stmt = stmt.where(Interaction.created_by_id == commissioner_id)
    if since is not None:
        stmt = stmt.where(Interaction.occurred_on >= since)
    if until is not None:
        stmt = stmt.where(Interaction.occurred_on <= until)
    return stmt.order_by(Interaction.occurred_on.desc(), Interaction.id.desc())


def last_contact(enterprise_ids: Any) -> dict[int, date]:
    """``{enterprise_id: date of its latest interaction}`` for the given ids, in one query.

    Enterprises without any interaction are absent from the result.
    """
    ids = list({int(i) for i in enterprise_ids})
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Interaction.enterprise_id, sa.func.max(Interaction.occurred_on))
        .where(Interaction.enterprise_id.in_(ids)).group_by(Interaction.enterprise_id))
    return {enterprise_id: day for enterprise_id, day in rows}
