"""How pages show the audit trail: Chinese names for fields and code values (rows keep the codes).

One place for every history list (the 一企一档 page, a policy delivery's page …), registered as template
globals by :func:`crm.web.init_templates` and rendered by ``templates/_macros/audit.html``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Specialty, User
from crm.core.audit import AuditEntity
from crm.core.types import LabelledEnum
from crm.dashboard.models import CountingRules
from crm.enterprises.models import Enterprise, EnterpriseContact, EnterpriseFigure, EnterprisePartner
from crm.holidays.models import SpecialDay
from crm.meetings.models import CalendarFeedToken, Meeting
from crm.reference.models import Department, Park, Partner, PlanTarget, Target
from crm.rosters.models import RosterEdition, RosterEntry
from crm.service.models import Assignment, Interaction, PolicyDelivery, ServiceRequest
from crm.tasks.models import ProgressReport, RectificationItem, SupervisionVisit, Task, TaskSettings

# How the history names what changed (audit rows keep the code names).
FIELD_LABELS: dict[str, dict[str, str]] = {
    "enterprise": {
        "name": "企业名称", "uscc": "统一社会信用代码", "county": "区县", "park": "所在园区", "cluster": "产业集群",
        "supply_category": "配套类别", "above_scale": "规上企业", "main_products": "主要产品",
        "settled_from_chengyu": "成渝落户", "settled_on": "落户日期", "status": "经营状态",
    },
    "contact": {"name": "姓名", "post": "职务", "phone": "电话"},
    "figure": {"year": "年份", "output_value": "产值(万元)", "chengyu_output_value": "成渝配套产值(万元)",
               "above_scale": "当年规上"},
    "partner_link": {"partner": "成渝企业", "supplies": "配套内容"},
    "roster_edition": {"status": "状态", "enterprise": "企业", "reason": "理由", "tier": "层级", "based_on": "基于版本",
                       "comment": "退回意见", "entries": "企业数"},
    "user": {"username": "用户名", "display_name": "姓名", "role": "角色", "county": "区县", "department": "责任单位",
             "specialties": "专长", "phone": "电话"},
    "holiday_year": {"source": "来源", "holidays": "放假天数", "workdays": "调休上班天数", "day": "日期",
                     "kind": "类型", "name": "名称"},
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
    "meeting": {
        "kind": "会议类型", "title": "会议名称", "starts_at": "开始时间", "ends_at": "结束时间", "venue": "会议地点",
        "city": "所在城市", "department": "主办单位", "status": "状态", "agenda": "会议议程",
        "outcome_summary": "成果概述", "cancel_reason": "取消原因", "enterprises": "参会企业", "partners": "成渝企业",
        "officials": "参会人员", "invited_via": "邀请方式", "enterprise": "企业", "partner": "成渝企业",
        "amount": "金额(万元)", "request": "诉求编号", "agreement_kind": "签约类型",
    },
    "calendar_feed": {"token": "订阅地址"},
    "partner": {"name": "企业名称", "region": "所在省市", "city": "所在城市", "industry": "所属产业链",
                "uscc": "统一社会信用代码"},
    "park": {"name": "园区名称", "county": "区县", "kind": "园区类型", "supporting": "认定为配套产业园区",
             "recognised_on": "认定日期", "recognition_document": "认定文件", "enclave_mode": "飞地模式",
             "chengyu_counterpart": "成渝合作方", "is_demo": "演示数据"},
    "department": {"name": "单位名称", "sort_order": "排序"},
    "target": {"year": "年份", "unit": "单位", "county": "区县", "target_firms": "规上配套企业目标(家)",
               "target_output": "产值目标(亿元)", "metric": "指标", "target": "目标值"},
    "policy_delivery": {
        "kind": "政策类别", "promised": "承诺内容", "amount": "金额(万元)", "promised_date": "承诺兑现日期",
        "delivered_date": "兑现日期", "status": "状态", "evidence": "佐证说明", "owner": "负责人",
        "department": "责任单位",
    },
    "task": {"kind": "类别", "number": "序号", "section": "所属部分", "title": "任务名称", "text": "方案原文",
             "figures": "相关统计", "units": "责任单位"},
    "task_report": {"task": "任务", "unit": "责任单位", "period": "报送期", "status": "进展状态", "text": "进展情况",
                    "attachment": "附件", "size": "大小(字节)", "sha256": "SHA-256"},
    "task_settings": {"cadence": "报送周期", "grace_working_days": "逾期宽限(工作日)"},
    "counting_rules": {"output_measure": "产值口径", "settled_since": "成渝落户企业起算日期",
                       "trajectory_start": "进度起算日期"},
    "supervision": {"visited_on": "督导日期", "department": "被督导单位", "county": "区县", "task": "重点任务",
                    "subject": "督导事项", "findings": "督导发现"},
    "rectification": {"description": "整改事项", "department": "责任单位", "owner": "责任人", "due_date": "整改时限",
                      "due_note": "时限说明", "status": "状态", "resolution": "整改情况", "resolved_at": "整改完成时间",
                      "closed_at": "销号时间", "note": "说明"},
}
# The records each audit entity type writes about: their enum columns give the coded fields' labels.
ENTITY_MODELS: dict[AuditEntity, tuple[type, ...]] = {
    AuditEntity.USER: (User,),
    AuditEntity.ENTERPRISE: (Enterprise,),
    AuditEntity.CONTACT: (EnterpriseContact,),
    AuditEntity.FIGURE: (EnterpriseFigure,),
    AuditEntity.PARTNER_LINK: (EnterprisePartner,),
    AuditEntity.ROSTER_EDITION: (RosterEdition, RosterEntry),
    AuditEntity.HOLIDAY_YEAR: (SpecialDay,),
    AuditEntity.ASSIGNMENT: (Assignment,),
    AuditEntity.INTERACTION: (Interaction,),
    AuditEntity.SERVICE_REQUEST: (ServiceRequest,),
    AuditEntity.POLICY_DELIVERY: (PolicyDelivery,),
    AuditEntity.MEETING: (Meeting,),
    AuditEntity.PARTNER: (Partner,),
    AuditEntity.CALENDAR_FEED: (CalendarFeedToken,),
    AuditEntity.PARK: (Park,),
    AuditEntity.DEPARTMENT: (Department,),
    AuditEntity.TARGET: (Target, PlanTarget),
    AuditEntity.COUNTING_RULES: (CountingRules,),
    AuditEntity.SUPERVISION: (SupervisionVisit,),
    AuditEntity.RECTIFICATION: (RectificationItem,),
    AuditEntity.TASK: (Task,),
    AuditEntity.TASK_REPORT: (ProgressReport,),
    AuditEntity.TASK_SETTINGS: (TaskSettings,),
}
# Coded audit keys that are not a column of the same name (a user's specialties are rows of their own).
EXTRA_CODED: dict[AuditEntity, dict[str, type[LabelledEnum]]] = {AuditEntity.USER: {"specialties": Specialty}}


@cache
def coded_fields() -> dict[AuditEntity, dict[str, type[LabelledEnum]]]:
    """entity → audit key → the labelled enum of that column, read from the models' enum columns."""
    result: dict[AuditEntity, dict[str, type[LabelledEnum]]] = {}
    for entity, models in ENTITY_MODELS.items():
        coded: dict[str, type[LabelledEnum]] = {}
        for model in models:
            for column in sa.inspect(model).columns:
                enum_cls = getattr(column.type, "enum_class", None)
                if isinstance(column.type, sa.Enum) and enum_cls and issubclass(enum_cls, LabelledEnum):
                    coded.setdefault(column.key, enum_cls)
        coded.update(EXTRA_CODED.get(entity, {}))
        result[entity] = coded
    return result


def field_label(entity_type: str, key: str) -> str:
    return FIELD_LABELS.get(entity_type, {}).get(key, key)


def audit_value(value: Any) -> str:
    if value is None or value == "":
        return "(空)"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def change_pair(value: Any) -> tuple[Any, Any]:
    """An audit change is ``[old, new]``; anything else is shown as a new value."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value




def shown_value(entity_type: str, key: str, value: Any) -> str:
    """One audit value as a person reads it: a code by its enum's Chinese label, else :func:`audit_value`."""
    entity = AuditEntity.find(entity_type)
    enum_cls = coded_fields().get(entity, {}).get(key) if entity else None
    if enum_cls is not None:
        if isinstance(value, list):
            return "、".join(shown_value(entity_type, key, item) for item in value) or audit_value(None)
        member = enum_cls.find(value)
        if member is not None:
            return member.label
    return audit_value(value)


def template_globals() -> dict[str, Any]:
    return {"field_label": field_label, "change_pair": change_pair, "shown_value": shown_value}
