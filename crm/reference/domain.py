"""Upkeep of the reference data: parks, departments and targets, each change audited old → new.

Admins and city-wide coordinators keep them (:mod:`crm.reference.access`); every record carries a ``version``, and
a stale one is refused (409, :data:`~crm.core.messages.STALE_MESSAGE`) with nothing written. The functions never
commit. :func:`targets_add_up` says where edited targets no longer add up (county rows against the city row).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from crm.core import access
from crm.core.access import Action
from crm.core.audit import AuditAction, AuditEntity, diff, jsonable, record
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.core.parsing import check_version, parse_enum
from crm.extensions import db
from crm.reference.access import keeps_reference
from crm.reference.models import County, Department, EnclaveMode, Park, ParkKind, PlanTarget, Target

PARK_NAME_MAX, DOCUMENT_MAX, COUNTERPART_MAX, DEPARTMENT_MAX = 120, 200, 120, 80
PLAN_METRICS = {"parks": "配套产业园区(个)", "settled_from_chengyu": "成渝地区企业落户(家)"}
TARGET_MAX_FIRMS, TARGET_MAX_OUTPUT = 100_000, Decimal("9999999999.99")


def _may_keep(actor: Any, record_: Any = None) -> None:
    """The system (``None``) may; a user must keep the reference data (and may change this record)."""
    if actor is None:
        return
    if record_ is not None:
        access.require(actor, Action.EDIT, record_)
    elif not keeps_reference(actor):
        raise Forbidden("只有管理员和市级协调员可以维护园区、责任单位和目标")


def _text(data: dict[str, Any], key: str, label: str, limit: int, fields: dict[str, str], *,
          required: bool = False) -> str:
    value = data.get(key)
    value = "" if value is None else value
    if not isinstance(value, str):
        fields[key] = f"{label}应为文字"
        return ""
    value = " ".join(value.split())
    if required and not value:
        fields[key] = f"请填写{label}"
    elif len(value) > limit:
        fields[key] = f"{label}最长{limit}个字符"
    return value


def _date(raw: Any, key: str, label: str, fields: dict[str, str]) -> date | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        fields[key] = f"{label}格式应为 YYYY-MM-DD"
        return None


# --- parks -----------------------------------------------------------------------------------------------------

def _park_values(data: dict[str, Any], own_id: int | None) -> dict[str, Any]:
    fields: dict[str, str] = {}
    values: dict[str, Any] = {"name": _text(data, "name", "园区名称", PARK_NAME_MAX, fields, required=True)}
    county_name = data.get("county")
    county = db.session.scalar(sa.select(County).where(County.name == county_name.strip())) \
        if isinstance(county_name, str) and county_name.strip() else None
    if county is None:
        fields["county"] = f"未知区县:{county_name}" if county_name else "请选择区县"
    values["county_id"] = county.id if county else None
    values["kind"] = parse_enum(ParkKind, data.get("kind"), field="kind", what="园区类型", fields=fields,
                                required=True)
    supporting = bool(data.get("supporting"))
    values["supporting"] = supporting
    values["recognised_on"] = _date(data.get("recognised_on"), "recognised_on", "认定日期", fields)
    values["recognition_document"] = _text(data, "recognition_document", "认定文件", DOCUMENT_MAX, fields)
    if supporting and values["recognised_on"] is None and "recognised_on" not in fields:
        fields["recognised_on"] = "认定为配套产业园区时请填写认定日期(按认定日期计入目标)"
    if not supporting and (values["recognised_on"] or values["recognition_document"]):
        fields["supporting"] = "填写了认定日期或文件,请勾选“认定为配套产业园区”"
    mode = parse_enum(EnclaveMode, data.get("enclave_mode"), field="enclave_mode", what="飞地模式", fields=fields)
    counterpart = _text(data, "chengyu_counterpart", "成渝合作方", COUNTERPART_MAX, fields)
    if values["kind"] is ParkKind.ENCLAVE:
        if mode is None and "enclave_mode" not in fields:
            fields["enclave_mode"] = "飞地园区请选择模式:合建、共建或租借"
        if not counterpart and "chengyu_counterpart" not in fields:
            fields["chengyu_counterpart"] = "飞地园区请填写成渝合作方"
    elif values["kind"] is not None and (mode is not None or counterpart):
        fields["enclave_mode" if mode is not None else "chengyu_counterpart"] = "只有飞地园区有飞地模式和成渝合作方"
    values["enclave_mode"], values["chengyu_counterpart"] = mode, counterpart
    if fields:
        raise ValidationFailed("园区信息有误,请修改标出的字段", fields)
    clash = db.session.scalar(sa.select(Park.id).where(Park.name == values["name"], Park.id != own_id))
    if clash:
        raise Conflict("园区重复", {"name": "已有同名园区"}, code="duplicate")
    return values


def _park_audit(values: dict[str, Any]) -> dict[str, Any]:
    """Audit values: the county by its name."""
    shown = dict(values)
    if "county_id" in shown:
        county_id = shown.pop("county_id")
        shown["county"] = db.session.get(County, county_id).name if county_id else None
    return shown


def create_park(actor: Any, data: dict[str, Any]) -> Park:
    _may_keep(actor)
    values = _park_values(data, None)
    park = Park(**values)
    db.session.add(park)
    db.session.flush()
    record(actor, AuditEntity.PARK, park.id, AuditAction.CREATE,
           {k: [None, v] for k, v in _park_audit(values).items() if v not in (None, "", False)},
           summary=f"新增园区 {park.name}")
    return park


def update_park(actor: Any, park: Park, data: dict[str, Any], *, version: Any = None) -> Park:
    """Change a park; a stale ``version`` → 409 and nothing written. A demo park stays marked demo."""
    _may_keep(actor, park)
    check_version(park, version)
    values = _park_values(data, park.id)
    old, new = _park_audit({k: getattr(park, k) for k in values}), _park_audit(values)
    changes = {k: [jsonable(old[k]), jsonable(v)] for k, v in new.items() if jsonable(old[k]) != jsonable(v)}
    if not changes:
        return park
    for key, value in values.items():
        setattr(park, key, value)
    db.session.flush()
    record(actor, AuditEntity.PARK, park.id, AuditAction.UPDATE, changes, summary=f"修改园区 {park.name}")
    return park


# --- departments -----------------------------------------------------------------------------------------------

def _department_name(name: Any, own_id: int | None) -> str:
    fields: dict[str, str] = {}
    value = _text({"name": name}, "name", "单位名称", DEPARTMENT_MAX, fields, required=True)
    if fields:
        raise ValidationFailed("责任单位有误", fields)
    clash = db.session.scalar(sa.select(Department.id).where(Department.name == value, Department.id != own_id))
    if clash:
        raise Conflict("责任单位重复", {"name": "已有同名责任单位"}, code="duplicate")
    return value


def create_department(actor: Any, name: Any) -> Department:
    _may_keep(actor)
    value = _department_name(name, None)
    last = db.session.scalar(sa.select(sa.func.max(Department.sort_order))) or 0
    department = Department(name=value, sort_order=last + 1)
    db.session.add(department)
    db.session.flush()
    record(actor, AuditEntity.DEPARTMENT, department.id, AuditAction.CREATE, {"name": [None, value]},
           summary=f"新增责任单位 {value}")
    return department


def rename_department(actor: Any, department: Department, name: Any, *, version: Any = None) -> Department:
    _may_keep(actor, department)
    check_version(department, version)
    value = _department_name(name, department.id)
    if value == department.name:
        return department
    old = department.name
    department.name = value
    db.session.flush()
    record(actor, AuditEntity.DEPARTMENT, department.id, AuditAction.UPDATE, {"name": [old, value]},
           summary=f"责任单位 {old} 更名为 {value}")
    return department


# --- targets ---------------------------------------------------------------------------------------------------

def _count(raw: Any, key: str, label: str, fields: dict[str, str]) -> int | None:
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = int(str(raw).strip())
        if not 0 <= value <= TARGET_MAX_FIRMS:
            raise ValueError
        return value
    except (TypeError, ValueError):
        fields[key] = f"{label}应为0到{TARGET_MAX_FIRMS}之间的整数"
        return None


def _output(raw: Any, fields: dict[str, str]) -> Decimal | None:
    try:
        if isinstance(raw, bool):
            raise InvalidOperation
        value = Decimal(str(raw).strip())
        if not value.is_finite() or value < 0 or value > TARGET_MAX_OUTPUT or value != value.quantize(Decimal("0.01")):
            raise InvalidOperation
        return value.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        fields["target_output"] = "产值目标应为不小于0的亿元数,最多两位小数"
        return None


def unit_name(target: Target) -> str:
    return target.county.name if target.county else "遵义市(全市)"


def update_target(actor: Any, target: Target, data: dict[str, Any], *, version: Any = None) -> Target:
    """Change one unit's target of a year (firms, 产值 in 亿元); a stale ``version`` → 409."""
    _may_keep(actor, target)
    check_version(target, version)
    fields: dict[str, str] = {}
    firms = _count(data.get("target_firms"), "target_firms", "规上配套企业目标", fields)
    output = _output(data.get("target_output"), fields)
    if fields:
        raise ValidationFailed("目标有误", fields)
    changes = diff(target, {"target_firms": firms, "target_output": output})
    if not changes:
        return target
    target.target_firms, target.target_output = firms, output
    db.session.flush()
    record(actor, AuditEntity.TARGET, target.id, AuditAction.UPDATE,
           {"year": target.year, "unit": unit_name(target), **changes},
           summary=f"修改{target.year}年{unit_name(target)}目标")
    return target


def update_plan_target(actor: Any, plan_target: PlanTarget, data: dict[str, Any], *,
                       version: Any = None) -> PlanTarget:
    """Change a city-wide target (parks, settled 成渝 firms) of a year; a stale ``version`` → 409."""
    _may_keep(actor, plan_target)
    check_version(plan_target, version)
    fields: dict[str, str] = {}
    value = _count(data.get("target"), "target", "目标值", fields)
    if fields:
        raise ValidationFailed("目标有误", fields)
    changes = diff(plan_target, {"target": value})
    if not changes:
        return plan_target
    plan_target.target = value
    db.session.flush()
    label = PLAN_METRICS.get(plan_target.metric, plan_target.metric)
    record(actor, AuditEntity.TARGET, plan_target.id, AuditAction.UPDATE,
           {"year": plan_target.year, "metric": label, **changes},
           summary=f"修改{plan_target.year}年{label}目标")
    return plan_target


def target_years() -> list[int]:
    years = set(db.session.scalars(sa.select(Target.year).distinct()))
    years |= set(db.session.scalars(sa.select(PlanTarget.year).distinct()))
    return sorted(years)


def targets_add_up(year: int) -> list[str]:
    """Where the county rows of ``year`` no longer add up to the city row (firms, 产值): one Chinese sentence per
    problem, none when they add up (or when the year has no city row and no county rows)."""
    rows = list(db.session.scalars(sa.select(Target).where(Target.year == year)))
    city = next((t for t in rows if t.county_id is None), None)
    counties = [t for t in rows if t.county_id is not None]
    if city is None:
        return [f"{year}年没有全市目标,无法核对区县目标之和"] if counties else []
    problems = []
    firms = sum(t.target_firms for t in counties)
    output = sum((t.target_output for t in counties), Decimal(0))
    if firms != city.target_firms:
        problems.append(f"{year}年区县规上配套企业目标之和 {firms} 家,与全市目标 {city.target_firms} 家不一致"
                        f"(相差 {firms - city.target_firms:+d} 家)")
    if output != city.target_output:
        problems.append(f"{year}年区县产值目标之和 {_amount(output)} 亿元,与全市目标 {_amount(city.target_output)} "
                        f"亿元不一致(相差 {_amount(output - city.target_output, sign=True)} 亿元)")
    return problems


def _amount(value: Decimal, *, sign: bool = False) -> str:
    text = format(value.normalize(), "f") if value else "0"
    return f"+{text}" if sign and value > 0 else text
