"""The messages every page and endpoint shares, defined once (Chinese, for the user)."""

from __future__ import annotations

# A form posted without a valid CSRF token: the page was open too long, or the token is missing.
FORM_EXPIRED = "表单已过期或缺少安全令牌,请刷新页面后重新提交"
# A form whose fields did not validate: the fields say what is wrong.
FIX_FIELDS = "请修改标出的字段后重新提交"
# Optimistic locking: the record's version moved on since the form was opened (API.md ``stale``).
STALE_MESSAGE = "该记录已被他人修改,请刷新后重试"
# A constraint or version check failed at the write (IntegrityError, StaleDataError): nothing was saved.
RACE_MESSAGE = "数据刚被他人修改,未保存,请刷新后重试"
