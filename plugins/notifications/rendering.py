"""The Jinja2 environment of the notifications templates (operator overrides first)."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from core.mail import template_env

SHIPPED = Path(__file__).parent / "templates"
"""The templates shipped with the plugin."""


def money(amount: int, currency: str) -> str:
    """``1250, "EUR"`` -> ``"12.50 EUR"`` (amounts are in minor units)."""
    return f"{amount / 100:,.2f} {currency.upper()}"


def local(moment: datetime, tz: str = "UTC") -> str:
    """``moment`` in the IANA zone ``tz``, e.g. ``"Mon 30 Nov 2026, 10:00 (Europe/Paris)"``."""
    return f"{moment.astimezone(ZoneInfo(tz)):%a %d %b %Y, %H:%M} ({tz})"


@functools.lru_cache(maxsize=8)
def environment(override_dir: str = "") -> jinja2.Environment:
    """Templates from ``override_dir`` (when set) before the shipped ones.

    Args:
        override_dir: ``[plugins.notifications] template_dir``.
    """
    sources = [override_dir, str(SHIPPED)] if override_dir else [str(SHIPPED)]
    env = template_env(*sources)
    env.filters["money"] = money
    env.filters["local"] = local
    return env
