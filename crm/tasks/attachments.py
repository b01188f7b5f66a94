"""Attachments of progress reports: size-limited and type-checked by their content, never by their name.

Allowed: PDF, DOCX, XLSX, JPEG, PNG. The bytes decide (magic numbers); an Office file must be a zip package whose
``[Content_Types].xml`` declares a Word document (holding ``word/document.xml``) or an Excel workbook — XLSX goes
through the shared spreadsheet checks (:func:`crm.core.spreadsheet.check_xlsx`: zip bombs, encryption, macros),
DOCX through the same zip limits.
Each file is at most ``TASK_ATTACHMENT_MAX_BYTES`` (config, default 10 MB), a report holds at most
``TASK_ATTACHMENT_MAX_FILES`` (default 10). Every refusal is a ``ValidationFailed`` on the ``attachments`` field,
naming the file. The stored name is the base name with the extension of the sniffed type (:func:`stored_name`).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

from defusedxml import ElementTree as SafeElementTree
from flask import current_app

from crm.core.errors import ValidationFailed
from crm.core.parsing import clean_filename
from crm.core.spreadsheet import (
    RATIO_FLOOR,
    SPREADSHEET_MAX_UNZIPPED_BYTES,
    SPREADSHEET_MAX_ZIP_ENTRIES,
    SPREADSHEET_MAX_ZIP_RATIO,
    XLSX_MIMETYPE,
    check_xlsx,
    size_text,
)

FIELD = "attachments"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 10
DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ALLOWED_TEXT = "PDF、Word(.docx)、Excel(.xlsx)、JPEG、PNG"
REFUSED = "附件不符合要求"
_DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
_SHEET_MARK = "spreadsheetml"
EXTENSIONS = {"application/pdf": ".pdf", DOCX_MIMETYPE: ".docx", XLSX_MIMETYPE: ".xlsx", "image/jpeg": ".jpg",
              "image/png": ".png"}
_SYNONYMS = {".jpeg": ".jpg"}
_DOCX_BODY = "word/document.xml"


def stored_name(filename: str | None, content_type: str) -> str:
    """The name a file is stored and served under: the uploader's base name only (no directory parts, ``/`` or
    ``\\``), with the extension of its sniffed type — a wrong or missing one is replaced (``../../通知.bat`` with PDF
    content → ``通知.pdf``), a right one kept as written (``照片.JPEG`` stays)."""
    base = clean_filename(filename).replace("\\", "/").rsplit("/", 1)[-1].strip()
    expected = EXTENSIONS.get(content_type, "")
    stem, dot, suffix = base.rpartition(".")
    if dot:
        current = "." + suffix.lower()
        if stem.strip(". ") and _SYNONYMS.get(current, current) == expected:
            return base
        base = stem
    base = base.strip(". ") or "未命名文件"
    return clean_filename(base, limit=200 - len(expected)) + expected


@dataclass(frozen=True)
class Upload:
    """A checked file: its shown name, content type (from its content), bytes and SHA-256."""

    filename: str
    content_type: str
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def max_bytes() -> int:
    return int(current_app.config.get("TASK_ATTACHMENT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def max_files() -> int:
    return int(current_app.config.get("TASK_ATTACHMENT_MAX_FILES") or DEFAULT_MAX_FILES)


def refuse(name: str, reason: str) -> ValidationFailed:
    message = f"附件“{name}”{reason}"
    return ValidationFailed(REFUSED, {FIELD: message})


def _office_kind(data: bytes) -> str | None:
    """``"docx"`` / ``"xlsx"`` / ``None`` from the package's declared content types (after the zip limits)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        return None
    with archive:
        if len(members) > SPREADSHEET_MAX_ZIP_ENTRIES:
            raise ValueError("压缩包内文件过多")
        total = sum(m.file_size for m in members)
        if total > SPREADSHEET_MAX_UNZIPPED_BYTES or (
                total > RATIO_FLOOR
                and total > SPREADSHEET_MAX_ZIP_RATIO * max(sum(m.compress_size for m in members), 1)):
            raise ValueError("解压后过大,疑似压缩炸弹")
        if any(m.flag_bits & 0x1 for m in members):
            raise ValueError("已加密")
        types = next((m for m in members if m.filename == "[Content_Types].xml"), None)
        if types is None or types.file_size > 1024 * 1024:
            return None
        try:
            root = SafeElementTree.fromstring(archive.read(types))
        except Exception:  # noqa: BLE001 - defusedxml refusals, parse errors, bad CRC: not an Office file
            return None
    declared = {e.get("ContentType", "") for e in root.iter() if e.tag.endswith("Override")}
    if _DOCM_MAIN in declared:
        raise ValueError("含宏,请另存为 .docx")
    if _DOCX_MAIN in declared:
        return "docx" if any(m.filename == _DOCX_BODY for m in members) else None
    if any(_SHEET_MARK in t for t in declared):
        return "xlsx"
    return None


def sniff(name: str, data: bytes) -> str:
    """The content type of ``data`` (one of the allowed), or ``ValidationFailed`` naming the file."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise refuse(name, "是旧版 Office 文件(.doc / .xls)或加密文件,请另存为 .docx / .xlsx 后再上传")
    if data.startswith(b"PK"):
        try:
            kind = _office_kind(data)
        except ValueError as err:
            raise refuse(name, f"结构异常({err}),已拒绝") from None
        if kind == "xlsx":
            try:
                check_xlsx(data)
            except ValidationFailed as err:
                raise refuse(name, f"无法接受:{err.message}") from None
            return XLSX_MIMETYPE
        if kind == "docx":
            return DOCX_MIMETYPE
    raise refuse(name, f"的类型不允许(按文件内容判断);只接受 {ALLOWED_TEXT}")


def check_upload(filename: str | None, data: bytes) -> Upload:
    """One file: not empty, within the size limit, of an allowed type by its content; stored under
    :func:`stored_name` (base name, the extension of its type)."""
    name = clean_filename(filename)
    if not data:
        raise refuse(name, "是空文件")
    limit = max_bytes()
    if len(data) > limit:
        raise refuse(name, f"过大({size_text(len(data))}),每个附件不超过 {size_text(limit)}")
    content_type = sniff(name, data)
    return Upload(stored_name(name, content_type), content_type, data, hashlib.sha256(data).hexdigest())


def read_files(files: Any) -> list[tuple[str, bytes]]:
    """Werkzeug ``FileStorage`` objects (or ``(name, bytes)`` pairs) → ``(name, bytes)``; empty file inputs are
    skipped. Reads at most one byte more than the limit of each, so a huge part is refused without keeping it."""
    out: list[tuple[str, bytes]] = []
    limit = max_bytes()
    for item in files or ():
        if isinstance(item, tuple):
            out.append(item)
            continue
        if not getattr(item, "filename", ""):
            continue
        out.append((item.filename, item.stream.read(limit + 1)))
    return out


def check_uploads(files: Any, *, already: int = 0) -> list[Upload]:
    pairs = read_files(files)
    if already + len(pairs) > max_files():
        raise ValidationFailed(REFUSED, {FIELD: f"每份报告最多 {max_files()} 个附件"})
    return [check_upload(name, data) for name, data in pairs]
