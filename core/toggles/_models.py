"""The switchboard's collections (odmantic models, for their names and indexes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pymongo
from odmantic import Field, Model


class SwitchboardDoc(Model):
    """The one switchboard document (``_id: "switchboard"``); written as a raw document."""

    model_config = {"collection": "core_toggles"}  # noqa: RUF012 - odmantic reads a plain dict

    version: int
    plugins: dict[str, bool] = Field(default_factory=dict)
    features: dict[str, dict[str, bool]] = Field(default_factory=dict)
    at: datetime
    by: str


class ToggleHistory(Model):
    """One change of the switchboard: its version, who, when, from where, what."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "core_toggle_history",
        "indexes": lambda: [pymongo.IndexModel([("version", pymongo.DESCENDING)], unique=True)],
    }

    version: int
    at: datetime
    by: str
    source: str
    changes: list[dict[str, Any]] = Field(default_factory=list)


class ToggleChange(msgspec.Struct, frozen=True, kw_only=True):
    """One key of a change: a plugin name or ``<plugin>.<feature>``, before and after."""

    key: str
    before: bool
    after: bool
