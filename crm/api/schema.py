"""One declaration per API shape: pydantic v2 models drive input checks, serialisation and the OpenAPI document.

- :class:`Shape` is a response body. Each model builds itself from the domain objects (``Model.of(row)``) and
  :func:`dump` turns it into JSON; crm/api/openapi.py publishes its JSON schema (serialisation mode).
- :class:`Input` is a request body: unknown fields are refused, and fields with a plain type are checked here
  (messages from :class:`Msg`, or made from the field's ``title``). A field typed ``Parsed[T]`` is documented as
  ``T`` but parsed by the domain function, with the domain's Chinese messages (a missing one included).
- :class:`Query` lists a query string's parameters for the document (the endpoint or the domain parses them).

Dates and times are strings (``DateStr``, ``DateTimeStr``): the domain formats them (``isoformat_local``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, ClassVar, TypeVar

from flask import request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from crm.api.common import json_body
from crm.core.errors import DomainError, ValidationFailed

UNKNOWN_FIELD = "不支持的字段"
Q = TypeVar("Q", bound="Query")
DateStr = Annotated[str, WithJsonSchema(TypeAdapter(date).json_schema())]
DateTimeStr = Annotated[str, WithJsonSchema(TypeAdapter(datetime).json_schema())]


def code(enum: type[Enum]) -> Any:
    """A string that is one of ``enum``'s codes (API.md: enumerations travel as their English codes)."""
    return Annotated[str, WithJsonSchema({"type": "string", "enum": [member.value for member in enum]})]


def one_of(values: list[str]) -> Any:
    """A string out of a fixed list (reference values given by their Chinese names, for example)."""
    return Annotated[str, WithJsonSchema({"type": "string", "enum": list(values)})]


class _ParsedByDomain:
    """Marker: the value is parsed by the domain function; the model only documents it."""


class Parsed:
    """``Parsed[T]``: documented as ``T``, accepted as any JSON value, parsed by the domain with its messages."""

    def __class_getitem__(cls, tp: Any) -> Any:
        return Annotated[Any, WithJsonSchema(TypeAdapter(tp).json_schema()), _ParsedByDomain()]


_SAME = object()


class Msg:
    """The Chinese message for any error of the field it annotates: ``Annotated[str, Msg("必须是文本")]``;
    ``missing`` words a missing field differently (``None``: the domain function reports it)."""

    def __init__(self, text: str, *, missing: Any = _SAME):
        self.text = text
        self.missing = text if missing is _SAME else missing


def not_blank(message: str) -> AfterValidator:
    """Refuse ``None`` and blank text with ``message``."""
    def check_(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise PydanticCustomError("crm", message)
        return value
    return AfterValidator(check_)


class Shape(BaseModel):
    """A response body. Every field is always sent (``None`` as ``null``), nothing else is."""

    model_config = ConfigDict(extra="forbid")


class Input(BaseModel):
    """A request body; ``INVALID`` is the error's message when a field is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
    INVALID: ClassVar[str] = "提交的数据有误"
    ERROR: ClassVar[type[DomainError]] = ValidationFailed


class Query(BaseModel):
    """The parameters of a query string. Fields typed with :data:`Flag` or :func:`choice` (or constrained) are
    checked by :func:`query`; plain text is left to the endpoint or the domain."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    INVALID: ClassVar[str] = "查询参数不正确"
    ERROR: ClassVar[type[DomainError]] = DomainError  # 400: a malformed query string


_FLAGS = {"": None, "1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _flag(value: Any) -> Any:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in _FLAGS:
        raise PydanticCustomError("flag", "not a flag")
    return _FLAGS[text]


Flag = Annotated[bool | None, BeforeValidator(_flag), WithJsonSchema({"type": "boolean"})]
"""A query-string flag: true/false, 1/0, yes/no (any case), empty for none."""


def choice(values: Any) -> Any:
    """One of ``values`` (an enum's codes, or a list), checked in a query string."""
    codes = tuple(getattr(v, "value", v) for v in values)
    return Annotated[str, AfterValidator(lambda v: _one_of(v, codes)),
                     WithJsonSchema({"type": "string", "enum": list(codes)})]


def _one_of(value: str, codes: tuple[str, ...]) -> str:
    if value not in codes:
        raise PydanticCustomError("choice", "not a choice")
    return value


def query(model: type[Q]) -> Q:
    """The query string read through ``model`` (400 with a message per refused parameter)."""
    data = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in request.args:
            data[key] = request.args.get(key, "").strip()
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise model.ERROR(model.INVALID, _refused(model, err)) from None


class PageQuery(Query):
    # read by crm.core.pagination.parse_page_args, with its own messages
    page: Parsed[Annotated[int, Field(ge=1)]] = Field(1, description="页码")
    per_page: Parsed[Annotated[int, Field(ge=1, le=200)]] = Field(50, description="每页条数(最大200)")


def str_code(value: Any) -> Any:
    """An enum member's code, anything else as it is."""
    return getattr(value, "value", value)


def dump(shape: Shape) -> dict[str, Any]:
    return shape.model_dump(mode="json", by_alias=True)


_MANY: dict[type[Shape], TypeAdapter[Any]] = {}


def dump_many(model: type[Shape], values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Many ``model`` objects from their fields' values (nested shapes as dicts too), checked and serialised by
    the declaration exactly as ``dump(model(**v))`` each would be, but in one call of pydantic-core for the whole
    list: no Python model object per item and nested item (a page of 50 enterprises with their contacts,
    figures and partners: ≈ 1.3 → 0.4 ms). Unknown or missing fields and wrong types are refused as by the model."""
    adapter = _MANY.get(model)
    if adapter is None:
        adapter = _MANY[model] = TypeAdapter(list[model])
    return adapter.dump_python(adapter.validate_python(values), mode="json", by_alias=True)


# --- route declarations (read by crm/api/openapi.py) ------------------------------------------------------

@dataclass(frozen=True)
class File:
    """A file answer (an export): its media type."""

    mimetype: str


@dataclass
class Operation:
    summary: str
    responses: dict[int, Any]
    body: type[Input] | None = None
    body_required: bool = True
    multipart: type[Input] | None = None
    query: type[Query] | None = None
    errors: tuple[int, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def operation(summary: str, *, ok: Any = None, status: int = 200, responses: dict[int, Any] | None = None,
              body: type[Input] | None = None, body_required: bool = True, multipart: type[Input] | None = None,
              query: type[Query] | None = None, errors: tuple[int, ...] = (), params: dict[str, Any] | None = None,
              description: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API view for the document: ``ok`` is the model (or :class:`File`, or ``None``: no content)
    answered with ``status``; ``responses`` adds others; ``errors`` lists the error statuses (400 and 401 are
    implied: the blueprint's checks can answer them anywhere); ``params`` types path parameters (annotated
    types) where the URL converter says too little. Put it below ``@bp.<method>(...)``."""
    def declare(view: Callable[..., Any]) -> Callable[..., Any]:
        view.api_operation = Operation(  # type: ignore[attr-defined]
            summary=summary, responses={status: ok, **(responses or {})}, body=body, body_required=body_required,
            multipart=multipart, query=query, errors=errors, params=params or {}, description=description)
        return view
    return declare



# --- request bodies --------------------------------------------------------------------------------------------

_TYPE_WORDS = {"string": "文本(字符串)", "int": "整数", "bool": "true 或 false", "float": "数字", "decimal": "数字",
               "list": "数组", "dict": "JSON 对象", "model": "JSON 对象"}


def _field_message(info: FieldInfo | None, name: str, error_type: str) -> str | None:
    """The Chinese message for one error of a field; ``None`` when the domain will say it."""
    if info is None:
        return UNKNOWN_FIELD
    if any(isinstance(m, _ParsedByDomain) for m in info.metadata):
        return None
    for item in info.metadata:
        if isinstance(item, Msg):
            return item.missing if error_type == "missing" else item.text
    title = info.title or name
    if error_type == "missing":
        return f"请填写{title}"
    words = next((w for prefix, w in _TYPE_WORDS.items() if error_type.startswith(prefix)), None)
    return f"{title}必须是{words}" if words else f"{title}格式不正确"


def _refused(model: type[BaseModel], err: ValidationError) -> dict[str, str]:
    """A Chinese message per refused field (the first error of each)."""
    fields: dict[str, str] = {}
    for error in err.errors():
        loc = error["loc"]
        name = str(loc[0])[:64] if loc else "body"
        if name in fields:
            continue
        if error["type"] == "extra_forbidden":
            fields[name] = UNKNOWN_FIELD
        elif error["type"] == "crm":
            fields[name] = error["msg"]
        else:
            info = next((f for n, f in model.model_fields.items() if name in (n, f.alias)), None)
            if (text := _field_message(info, name, error["type"])) is not None:
                fields[name] = text
    return fields


def check(model: type[Input], data: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    """``data`` if it fits ``model``, else 422 with a Chinese message per refused field (the first error each)."""
    try:
        model.model_validate(data)
    except ValidationError as err:
        fields = _refused(model, err)
        if fields:
            raise model.ERROR(message or model.INVALID, fields) from None
    return data


def body(model: type[Input], message: str | None = None) -> dict[str, Any]:
    """The request's JSON object (400 when it is not one), checked against ``model``; the dict is returned as
    sent, for the domain function to parse."""
    return check(model, json_body(), message)


# --- envelopes -------------------------------------------------------------------------------------------------

_PAGES: dict[tuple[type[Shape], type[Shape]], type[Shape]] = {}


class PageBase(Shape):
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=200)


def page_model(item: type[Shape], name: str | None = None, base: type[Shape] = PageBase) -> type[Shape]:
    """API.md's list envelope ``{"items", "total", "page", "per_page"}`` of ``item``, named ``<Item>Page``."""
    key = (item, base)
    if key not in _PAGES:
        _PAGES[key] = create_model(name or f"{item.__name__}Page", __base__=base, items=(list[item], ...))
    return _PAGES[key]


class ErrorDetail(Shape):
    code: str = Field(examples=["invalid"])
    message: str = Field(description="中文说明")
    fields: dict[str, str] = Field(default_factory=dict, description="字段名 → 中文说明")


class Error(Shape):
    """API.md's error body (made by crm.core.errors.json_error)."""

    error: ErrorDetail
