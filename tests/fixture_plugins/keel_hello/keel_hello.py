"""A one-file third-party keel plugin (placeholder; filled in by the contract work)."""

from __future__ import annotations

from core import Plugin


class HelloPlugin(Plugin):
    """Says hello."""

    name = "hello"
