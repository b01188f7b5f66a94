"""Enterprise endpoints (API.md, "Enterprises"): parse, load, require, call the domain, commit, serialise."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from sqlalchemy.orm import selectinload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import json_body, number, page_of, reject_unknown
from crm.core.access import Action, require
from crm.core.audit import AuditLog
from crm.core.errors import DomainError, NotFound
from crm.core.time import isoformat_local
from crm.enterprises.domain import (
    SORTS,
    create_enterprise,
    history_statement,
    search_statement,
    set_figure,
    update_enterprise,
)
from crm.enterprises.models import Enterprise, EnterpriseFigure, EnterprisePartner
from crm.extensions import db

NOT_FOUND = "记录不存在或您无权查看"  # the same words as access.require, so 404s do not differ
MAX_ID = 2**31 - 1  # larger ids cannot exist, and PostgreSQL would refuse them in the query
BOOL_ARGS = {"": "", "1": "1", "true": "1", "yes": "1", "0": "0", "false": "0", "no": "0"}
FIGURE_FIELDS = {"output_value", "chengyu_output_value"}


# --- serialisers -------------------------------------------------------------------------------------------

def enterprise_json(e: Enterprise) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "uscc": e.uscc,
        "county": e.county.name,
        "park": e.park.name if e.park else None,
        "cluster": e.cluster.name,
        "supply_category": e.supply_category.name if e.supply_category else None,
        "above_scale": e.above_scale,
        "main_products": e.main_products,
        "settled_from_chengyu": e.settled_from_chengyu,
        "settled_on": e.settled_on.isoformat() if e.settled_on else None,
        "status": e.status.value,
        "is_demo": e.is_demo,
        "version": e.version,
        "created_at": isoformat_local(e.created_at),
        "updated_at": isoformat_local(e.updated_at),
        "contacts": [{"id": c.id, "name": c.name, "post": c.post, "phone": c.phone} for c in e.contacts],
        "figures": [figure_json(f) for f in e.figures],
        "partners": [{"partner": link.partner.name, "supplies": link.supplies} for link in e.partner_links],
    }


def figure_json(f: EnterpriseFigure) -> dict[str, Any]:
    return {"year": f.year, "output_value": number(f.output_value),
            "chengyu_output_value": number(f.chengyu_output_value)}


def history_json(row: AuditLog) -> dict[str, Any]:
    return {"at": isoformat_local(row.at), "actor": row.actor_name, "entity_type": row.entity_type,
            "entity_id": row.entity_id, "action": row.action, "summary": row.summary, "changes": row.changes or {}}


# --- helpers -----------------------------------------------------------------------------------------------

def _load(enterprise_id: int, action: Action) -> Enterprise:
    """The enterprise if the caller may do ``action`` to it: 404 when they may not even see it, else 403."""
    enterprise = db.session.get(Enterprise, enterprise_id) if enterprise_id <= MAX_ID else None
    if enterprise is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), action, enterprise)
    return enterprise


def _list_args() -> dict[str, str]:
    """Filters of the list, checked for shape only (what they mean is the domain's business)."""
    args = request.args
    fields: dict[str, str] = {}
    sort = args.get("sort", "name")
    if sort not in SORTS:
        fields["sort"] = "排序方式只能是 " + "、".join(SORTS)
    above_scale = args.get("above_scale", "").strip().lower()
    if above_scale not in BOOL_ARGS:
        fields["above_scale"] = "above_scale 只能是 true 或 false"
    if fields:
        raise DomainError("查询参数不正确", fields)
    return {"q": args.get("q", ""), "county": args.get("county", ""), "cluster": args.get("cluster", ""),
            "supply_category": args.get("supply_category", ""), "roster": args.get("roster", ""),
            "above_scale": BOOL_ARGS.get(above_scale, ""), "sort": sort}


# --- endpoints ---------------------------------------------------------------------------------------------

@bp.get("/enterprises")
def list_enterprises():
    """Enterprises the caller may see, filtered, sorted and paginated."""
    stmt = search_statement(current_user(), **_list_args()).options(
        selectinload(Enterprise.contacts),
        selectinload(Enterprise.figures),
        selectinload(Enterprise.partner_links).joinedload(EnterprisePartner.partner),
        selectinload(Enterprise.park),
    )
    return page_of(stmt, enterprise_json)


@bp.post("/enterprises")
def create_enterprise_view():
    user = current_user()
    require(user, Action.CREATE)
    data = json_body()
    enterprise = create_enterprise(user, data)
    db.session.commit()
    location = url_for("api.get_enterprise", enterprise_id=enterprise.id)
    return enterprise_json(enterprise), 201, {"Location": location}


@bp.get("/enterprises/<int:enterprise_id>")
def get_enterprise(enterprise_id: int):
    return enterprise_json(_load(enterprise_id, Action.VIEW))


@bp.patch("/enterprises/<int:enterprise_id>")
def patch_enterprise(enterprise_id: int):
    """Partial update; a stale ``version`` is refused with 409 and nothing is written."""
    enterprise = _load(enterprise_id, Action.EDIT)
    data = json_body()
    update_enterprise(current_user(), enterprise, data, partial=True)
    db.session.commit()
    return enterprise_json(enterprise)


@bp.put("/enterprises/<int:enterprise_id>/figures/<year>")
def put_figure(enterprise_id: int, year: str):
    """Set one year's 产值 (万元): 201 when the year is new, 200 when it replaced an earlier figure."""
    enterprise = _load(enterprise_id, Action.EDIT)
    data = json_body()
    reject_unknown(data, FIGURE_FIELDS, "产值数据有误")
    known_years = {f.year for f in enterprise.figures}
    figure = set_figure(current_user(), enterprise, year, data)
    db.session.commit()
    return figure_json(figure), 200 if figure.year in known_years else 201


@bp.get("/enterprises/<int:enterprise_id>/history")
def enterprise_history(enterprise_id: int):
    """The audit trail of the enterprise and what hangs off it, newest first."""
    enterprise = _load(enterprise_id, Action.VIEW)
    return page_of(history_statement(enterprise.id, current_user()), history_json)
