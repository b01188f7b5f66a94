"""Labelled enumerations: every member carries its Chinese label; one parser names the allowed values."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import crm
from crm.core.errors import ValidationFailed
from crm.core.parsing import parse_enum
from crm.core.types import LabelledEnum


class Fruit(LabelledEnum):
    APPLE = "apple", "苹果"
    PEAR = "pear", "梨", "梨子"
    LYCHEE = "荔枝"


def _all_labelled_enums() -> list[type[LabelledEnum]]:
    for module in pkgutil.walk_packages(crm.__path__, "crm."):
        importlib.import_module(module.name)
    found: list[type[LabelledEnum]] = []
    stack = list(LabelledEnum.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("crm."):
            found.append(cls)
    return found


def test_a_member_is_its_code_and_carries_its_label():
    assert Fruit.APPLE == "apple" and Fruit("apple") is Fruit.APPLE and str(Fruit.APPLE) == "apple"
    assert Fruit.APPLE.label == "苹果" and Fruit.APPLE.short_label == "苹果"
    assert Fruit.PEAR.short_label == "梨子" and Fruit.LYCHEE.label == "荔枝" == Fruit.LYCHEE.value
    assert Fruit.allowed_text() == "apple(苹果)、pear(梨)、荔枝"


def test_every_enum_of_the_models_is_labelled_in_chinese():
    enums = _all_labelled_enums()
    names = {cls.__name__ for cls in enums}
    assert {"Role", "Specialty", "EnterpriseStatus", "RosterKind", "EditionStatus", "Tier", "ImportStatus",
            "Channel", "RequestCategory", "RequestStatus", "PolicyKind", "DeliveryStatus", "DayKind",
            "RunOutcome"} <= names
    for cls in enums:
        for member in cls:
            assert member.value.isascii() or member.value == member.label, member
            assert not member.label.isascii(), f"{cls.__name__}.{member.name} has no Chinese label"


def test_parse_enum_by_code_label_and_member():
    assert parse_enum(Fruit, " apple ", field="fruit", what="水果") is Fruit.APPLE
    assert parse_enum(Fruit, Fruit.PEAR, field="fruit", what="水果") is Fruit.PEAR
    assert parse_enum(Fruit, "梨", field="fruit", what="水果", by_label=True) is Fruit.PEAR
    assert parse_enum(Fruit, "", field="fruit", what="水果") is None
    assert parse_enum(Fruit, None, field="fruit", what="水果") is None


@pytest.mark.parametrize(("raw", "kwargs", "message"), [
    ("梨", {}, "未知水果:梨;可选:apple(苹果)、pear(梨)、荔枝"),
    ("", {"required": True}, "请选择水果:apple(苹果)、pear(梨)、荔枝"),
    (3, {}, "水果必须是文字;可选:apple(苹果)、pear(梨)、荔枝"),
    ("x" * 40, {}, f"未知水果:{'x' * 30}…;可选:apple(苹果)、pear(梨)、荔枝"),
])
def test_parse_enum_names_the_field_and_the_allowed_values(raw, kwargs, message):
    with pytest.raises(ValidationFailed) as excinfo:
        parse_enum(Fruit, raw, field="fruit", what="水果", **kwargs)
    assert excinfo.value.message == "水果不正确" and excinfo.value.fields == {"fruit": message}
    fields: dict[str, str] = {}
    assert parse_enum(Fruit, raw, field="fruit", what="水果", fields=fields, **kwargs) is None
    assert fields == {"fruit": message}
