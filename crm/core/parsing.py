"""Small parsers shared by every entry point, so bad input is a 400/422 with a message, never a 500."""

from __future__ import annotations

from typing import Any, TypeVar

from crm.core.errors import Conflict, ValidationFailed
from crm.core.messages import STALE_MESSAGE
from crm.core.types import LabelledEnum

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL

E = TypeVar("E", bound=LabelledEnum)


def parse_id(value: Any) -> int | None:
    """A positive database id from an int or a string of ASCII digits, else ``None``.

    ``str.isdigit`` accepts "²" and other Unicode digits that ``int()`` refuses; booleans are not ids.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 12:
            return None
        number = int(text)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def parse_enum(
    cls: type[E],
    raw: Any,
    *,
    field: str,
    what: str,
    fields: dict[str, str] | None = None,
    required: bool = False,
    by_label: bool = False,
    title: str | None = None,
) -> E | None:
    """The member of ``cls`` named by ``raw`` (its code, or also its Chinese label with ``by_label``).

    A member passes through; surrounding spaces are ignored. Empty input gives ``None``, or "请选择{what}" when
    ``required``. Anything else is "未知{what}:…;可选:…" naming the allowed values in Chinese. With ``fields``
    the message is put on ``fields[field]`` and ``None`` returned (so a caller collects every problem first);
    without, :class:`ValidationFailed` is raised at once (``title``, default "{what}不正确").
    """
    if isinstance(raw, cls):
        return raw
    text = raw.strip() if isinstance(raw, str) else raw
    allowed = cls.allowed_text()
    if text is None or text == "":
        if not required:
            return None
        message = f"请选择{what}:{allowed}"
    elif not isinstance(text, str):
        message = f"{what}必须是文字;可选:{allowed}"
    else:
        member = cls.find(text, by_label=by_label)
        if member is not None:
            return member
        shown = text if len(text) <= 30 else text[:30] + "…"
        message = f"未知{what}:{shown};可选:{allowed}"
    if fields is None:
        raise ValidationFailed(title or f"{what}不正确", {field: message})
    fields[field] = message
    return None


def check_version(obj: Any, version: Any, message: str = STALE_MESSAGE) -> None:
    """Optimistic locking (API.md): a stale ``version`` → 409 ``stale`` and nothing written; none given → no check.

    Only an integer or a string of ASCII digits is a version (JSON's ``1e400`` is a float infinity, not one).
    """
    if version is None or version == "":
        return
    expected = parse_id(version)
    if expected is None:
        raise ValidationFailed("版本号不正确", {"version": "版本号必须是正整数"})
    if expected != obj.version:
        raise Conflict(message, {"version": f"版本已过期(当前版本 {obj.version})"}, code="stale")


def clean_filename(name: str | None, limit: int = 200) -> str:
    """An uploaded file's name for display and storage: printable characters only (no NUL), bounded."""
    text = "".join(ch for ch in (name or "") if ch.isprintable())
    return text.strip()[:limit] or "未命名文件"
