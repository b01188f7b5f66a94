"""How pages show the audit trail: Chinese names for entities, fields and code values (rows keep the codes).

One place for every history list (the 一企一档 page, a policy delivery's page …), registered as template
globals by :func:`crm.web.init_templates` and rendered by ``templates/_macros/audit.html``.
"""

from __future__ import annotations

from typing import Any

from crm.auth.models import Specialty
from crm.enterprises.models import EnterpriseStatus
from crm.service.models import Channel, DeliveryStatus, RequestStatus

# How the history names what changed (audit rows keep the code names).
FIELD_LABELS: dict[str, dict[str, str]] = {
    "enterprise": {
        "name": "企业名称", "uscc": "统一社会信用代码", "county": "区县", "park": "所在园区", "cluster": "产业集群",
        "supply_category": "配套类别", "above_scale": "规上企业", "main_products": "主要产品",
        "settled_from_chengyu": "成渝落户", "settled_on": "落户日期", "status": "经营状态",
    },
    "contact": {"name": "姓名", "post": "职务", "phone": "电话"},
    "figure": {"year": "年份", "output_value": "产值(万元)", "chengyu_output_value": "成渝配套产值(万元)"},
    "partner_link": {"partner": "成渝企业", "supplies": "配套内容"},
    "assignment": {"specialty": "专长", "commissioner": "服务专员", "started_on": "开始日期",
                   "ended_on": "结束日期", "end_reason": "结束原因"},
    "interaction": {"occurred_on": "服务日期", "date": "服务日期", "channel": "服务方式", "specialty": "服务领域",
                    "participants": "参与人员", "summary": "服务内容", "next_follow_up": "下次跟进日期"},
    "service_request": {
        "category": "诉求类别", "description": "诉求内容", "interaction_id": "来源服务记录", "owner": "负责人",
        "department": "责任单位", "raised_on": "提出日期", "due_date": "办理时限", "status": "状态",
        "resolved_at": "解决时间", "closed_at": "办结时间", "satisfaction": "满意度", "note": "说明",
        "follow_up_satisfaction": "回访满意度",
    },
    "policy_delivery": {
        "kind": "政策类别", "promised": "承诺内容", "amount": "金额(万元)", "promised_date": "承诺兑现日期",
        "delivered_date": "兑现日期", "status": "状态", "evidence": "佐证说明", "owner": "负责人",
        "department": "责任单位",
    },
}
ENTITY_LABELS = {"enterprise": "档案", "contact": "联系人", "figure": "产值", "partner_link": "成渝配套",
                 "assignment": "服务分配", "interaction": "服务记录", "service_request": "诉求",
                 "policy_delivery": "政策兑现"}
# Code values shown by their Chinese names in the history (entity → field → code → label); before audit_value.
VALUE_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "assignment": {"specialty": {s.value: s.label for s in Specialty}},
    "interaction": {"channel": {c.value: c.label for c in Channel},
                    "specialty": {s.value: s.label for s in Specialty}},
    "service_request": {"status": {s.value: s.label for s in RequestStatus}},
    "policy_delivery": {"status": {s.value: s.label for s in DeliveryStatus}},
}


def field_label(entity_type: str, key: str) -> str:
    return FIELD_LABELS.get(entity_type, {}).get(key, key)


def audit_value(key: str, value: Any) -> str:
    if value is None or value == "":
        return "(空)"
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "status":
        try:
            return EnterpriseStatus(value).label
        except ValueError:
            return str(value)
    return str(value)


def change_pair(value: Any) -> tuple[Any, Any]:
    """An audit change is ``[old, new]``; anything else is shown as a new value."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value




def shown_value(entity_type: str, key: str, value: Any) -> str:
    """One audit value as a person reads it: a code by its Chinese label, else :func:`audit_value`."""
    labels = VALUE_LABELS.get(entity_type, {}).get(key, {})
    if isinstance(value, str) and value in labels:
        return labels[value]
    return audit_value(key, value)


def template_globals() -> dict[str, Any]:
    return {"field_label": field_label, "change_pair": change_pair, "shown_value": shown_value,
            "ENTITY_LABELS": ENTITY_LABELS}
