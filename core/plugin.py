"""The plugin base class and pluggy markers."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec
import pluggy

PROJECT = "keel"

hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks a hook specification (in :mod:`core.hookspecs` or a plugin's own spec module)."""

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin method as the implementation of a hook."""


class NoSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings type for plugins that take none."""


class Plugin:
    """Base class of every keel plugin, built-in or third-party.

    A subclass sets ``name`` (its folder, entry point, config table, route, key and
    job prefix), ``settings_type`` (a frozen msgspec Struct decoded from
    ``[plugins.<name>]``) and ``requires`` (plugins it cannot run without), and
    implements hooks with ``@hookimpl`` methods. The core builds an instance only
    for enabled plugins (and, for ``keel plugins``, a throwaway one for listing).

    Attributes:
        settings: this plugin's decoded settings table.
        app_settings: the whole application settings, for shared values such as
            ``app.env``; plugins read only what they need.
    """

    name: ClassVar[str]
    settings_type: ClassVar[type[msgspec.Struct]] = NoSettings
    requires: ClassVar[tuple[str, ...]] = ()
    essential: ClassVar[Literal["always", "default"] | None] = None
    """Essential plugins load without being listed in ``plugins.enabled`` (as pytest's
    essential plugins): ``"always"`` can't be switched off, ``"default"`` can be, with
    ``plugins.disabled``. For the few plugins the rest build on (accounts, uploads)."""

    def __init__(self, settings: Any, app_settings: Any) -> None:
        self.settings = settings
        self.app_settings = app_settings

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
