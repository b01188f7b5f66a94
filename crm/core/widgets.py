"""Form widgets that draw what wtforms' draw, with less Python."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from wtforms import widgets


class Select(widgets.Select):
    """wtforms' ``Select``, the same bytes, each plain ``<option>`` drawn with one f-string: wtforms builds an
    attribute dict per option, sorts and formats it through ``html_params`` (≈ 15–20 µs an option) and inspects
    ``render_option``'s signature on every select. The enterprise list's filter form has ≈ 40 options on every
    view (≈ 1 ms; benchmarks/README.md, "Fifth pass: the enterprise list"). An option with ``render_kw``, extra
    keywords or a non-text value is drawn by wtforms itself (tests/core/test_widgets.py compares both)."""

    @classmethod
    def render_option(cls, choice: Any, **kwargs: Any) -> Markup:
        value = choice.value
        if kwargs or choice.render_kw or not isinstance(value, str):
            return super().render_option(choice, **kwargs)
        # html_params' order (sorted keys: "selected" before "value"); escape() already turns '"' into &#34;
        return Markup(f'<option {"selected " if choice.selected else ""}value="{escape(value)}">'  # noqa: S704
                      f"{escape(choice.label or value)}</option>")

    @classmethod
    def _dispatch_render_option(cls) -> Any:
        return cls.render_option  # the 3.3 signature: nothing to adapt, nothing to inspect
