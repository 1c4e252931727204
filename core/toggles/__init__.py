"""Live toggles: which loaded plugins are active, and each plugin's feature switches.

The **switchboard** is one MongoDB document (``core_toggles``, ``_id: "switchboard"``)
holding only what operators set, with a version::

    {_id, version, plugins: {name: bool}, features: {plugin: {feature: bool}}, at, by}

A process's effective state is ``config.toml`` (``plugins.enabled`` on,
``plugins.standby`` off, each :class:`core.records.Toggle`'s default) overlaid by that
document. A change is a compare-and-set on ``version``, one entry in
``core_toggle_history`` (who, when, what from and to) and an announcement on the Valkey
channel ``<prefix>:toggles``; every process re-reads the document on an announcement and
every ``[toggles] refresh_s`` anyway, so one that missed the message (Valkey down, a
process paused) still converges. The request path only reads this process's in-memory
copy (:meth:`Switchboard.active`, :meth:`Switchboard.feature`): no I/O.

What "off" means for a plugin is applied where each thing runs: its routes answer 404 and
leave the OpenAPI document (:mod:`core.app`, :mod:`core.http.openapi`), its inline
listeners are skipped and its durable deliveries are held (:mod:`core.toggles._held`),
its schedules skip their ticks (:mod:`core.scheduler`), its health checks are not run,
its WebSocket events answer ``feature_disabled`` (the realtime plugin), and its own
background work stops in its ``on_deactivate`` hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from pymongo.errors import DuplicateKeyError, PyMongoError
from valkey.exceptions import ValkeyError

from core.errors import ConflictError, NotFoundError, ServiceUnavailableError
from core.stash import StashKey
from core.toggles._config import restart_settings
from core.toggles._held import HeldDelivery, hold, release
from core.toggles._models import SwitchboardDoc, ToggleChange, ToggleHistory

if TYPE_CHECKING:
    from core.context import Keel
    from core.records import Toggle

__all__ = [
    "MODELS",
    "HeldDelivery",
    "Switchboard",
    "SwitchboardDoc",
    "ToggleChange",
    "ToggleHistory",
    "get_switchboard",
    "hold",
    "release",
]

MODELS = (SwitchboardDoc, ToggleHistory, HeldDelivery)
"""The switchboard's collections, whose indexes :func:`core.runtime.open_keel` creates."""
DOC_ID = "switchboard"
RUNNING_CONFIG_ID = "running-config"
CAS_ATTEMPTS = 5
WARN_EVERY_S = 30.0
SWITCHBOARD_KEY = StashKey["Switchboard"]("core.toggles")
log = logging.getLogger("core.toggles")


def get_switchboard(keel: Keel) -> Switchboard:
    """This process's switchboard (one per :class:`core.context.Keel`)."""
    return keel.stash.get_or_create(SWITCHBOARD_KEY, lambda: Switchboard(keel))


@dataclass(frozen=True, slots=True)
class _State:
    version: int
    plugins: Mapping[str, bool]
    features: Mapping[str, bool]
    """``<plugin>.<feature>`` -> on; a feature of an inactive plugin keeps its own value."""
    stored: Mapping[str, bool]
    """The keys (plugin names and feature keys) an operator set, with their values."""


class Switchboard:
    """This process's view of the switchboard, and the way to change it (module doc)."""

    def __init__(self, keel: Keel) -> None:
        self.keel = keel
        host = keel.host
        self.requires = {name: tuple(type(p).requires) for name, p in host.plugins.items()}
        self.essential = {
            name for name, p in host.plugins.items() if getattr(p, "essential", None) == "always"
        }
        self.toggles: dict[str, Toggle] = {f"{p}.{t.name}": t for p, t in host.toggles()}
        self._defaults = {name: name not in host.standby for name in host.plugins}
        self._state = _State(
            0, dict(self._defaults), {k: t.default for k, t in self.toggles.items()}, {}
        )
        self._started = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._warned_at = 0.0

    # -- the request path: in-memory reads -------------------------------------------------

    @property
    def version(self) -> int:
        """The version of the switchboard this process follows (0: never set)."""
        return self._state.version

    def active(self, plugin: str) -> bool:
        """Whether ``plugin`` is loaded here and switched on."""
        return self._state.plugins.get(plugin, False)

    def feature(self, plugin: str, name: str) -> bool:
        """Whether feature ``name`` of ``plugin`` is on (and ``plugin`` is active)."""
        state = self._state
        return state.plugins.get(plugin, False) and state.features.get(f"{plugin}.{name}", False)

    def inactive(self) -> frozenset[str]:
        """The loaded plugins that are switched off."""
        return frozenset(name for name, on in self._state.plugins.items() if not on)

    def describe(self) -> dict[str, Any]:
        """The whole state, for ``keel toggles show`` and ``GET /api/admin/toggles``."""
        state = self._state
        plugins = [
            {
                "name": name,
                "active": on,
                "default": self._defaults[name],
                "source": "switchboard" if name in state.stored else "config",
                "essential": name in self.essential,
                "requires": list(self.requires[name]),
            }
            for name, on in state.plugins.items()
        ]
        features = [
            {
                "key": key,
                "enabled": state.features[key],
                "default": toggle.default,
                "source": "switchboard" if key in state.stored else "config",
                "description": toggle.description,
            }
            for key, toggle in self.toggles.items()
        ]
        return {"version": state.version, "plugins": plugins, "features": features}

    # -- reading and following the stored document -----------------------------------------

    def _collection(self, model: type[Any]) -> Any:
        return self.keel.db.get_collection(model)

    async def _read(self) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._collection(SwitchboardDoc).find_one(
            {"_id": DOC_ID}
        )
        return doc

    def _state_of(self, doc: Mapping[str, Any] | None) -> _State:
        plugins = dict(self._defaults)
        features = {k: t.default for k, t in self.toggles.items()}
        stored: dict[str, bool] = {}
        if doc is not None:
            for name, on in (doc.get("plugins") or {}).items():
                if name in plugins and name not in self.essential:
                    plugins[name] = stored[name] = bool(on)
            for plugin, table in (doc.get("features") or {}).items():
                for feature, on in (table or {}).items():
                    key = f"{plugin}.{feature}"
                    if key in features:
                        features[key] = stored[key] = bool(on)
        version = int(doc["version"]) if doc is not None else 0
        return _State(version, plugins, features, stored)

    async def load(self) -> None:
        """Read the switchboard before the process serves (a process started after a
        change starts in the new state); no hooks run.

        Raises:
            pymongo.errors.PyMongoError: MongoDB unreachable.
        """
        self._state = self._state_of(await self._read())

    async def start(self, *, runs_worker: bool) -> None:
        """After the plugins' ``on_startup``: deactivate the plugins that start off, then
        follow changes in the background until :meth:`close`. Idempotent."""
        if self._started:
            return
        self._started = True
        self._runs_worker = runs_worker
        try:
            await self.record_config(restart_settings(self.keel.settings, self.keel.host))
        except PyMongoError as exc:
            self._warn("cannot record this process's configuration", exc)
        for name in self.inactive():
            await self._notify("on_deactivate", name)
        self._task = asyncio.create_task(self._follow(), name="keel:toggles")

    async def close(self) -> None:
        """Stop following changes."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> bool:
        """Re-read the document and apply it if it changed; whether it did.

        Raises:
            pymongo.errors.PyMongoError: MongoDB unreachable (the state is kept).
        """
        doc = await self._read()
        if doc is not None and int(doc["version"]) == self._state.version:
            if self._started and self._runs_worker:
                await self.release_held()
            return False
        await self._apply(self._state_of(doc))
        return True

    async def _apply(self, new: _State) -> None:
        async with self._lock:
            old = self._state
            if new.version < old.version:
                return  # a slower read of an older version
            self._state = new  # requests see the new state from here on
            if new.version != old.version:
                log.info("toggles: following version %d", new.version)
            if not self._started:
                return
            order = list(self.keel.host.plugins)
            for name in reversed(order):  # dependants stop first
                if old.plugins.get(name) and not new.plugins.get(name):
                    await self._notify("on_deactivate", name)
            for name in order:
                if new.plugins.get(name) and not old.plugins.get(name):
                    await self._notify("on_activate", name)
            if self._runs_worker:
                await self.release_held()

    async def _notify(self, hook: str, plugin: str) -> None:
        try:
            await self.keel.host.notify(hook, plugin, self.keel)
        except Exception:
            log.exception("plugin %s: %s failed (the switch holds)", plugin, hook)

    async def release_held(self) -> None:
        """Enqueue the held deliveries of the active plugins (worker processes do, on
        each switch and re-read, and when their queues start)."""
        active = [name for name, on in self._state.plugins.items() if on]
        if await release(self.keel, active):
            log.info("toggles: released held deliveries")

    def _warn(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("toggles: %s: %s", what, exc)

    async def _follow(self) -> None:
        """Re-read on each announcement, and every ``refresh_s`` whatever happens."""
        refresh_s = self.keel.settings.toggles.refresh_s
        loop = asyncio.get_running_loop()
        while True:
            pubsub = self.keel.valkey.pubsub()
            try:
                await pubsub.subscribe(self.keel.key("toggles"))
                due = 0.0  # read once now that nothing announced can be missed
                while True:
                    now = loop.time()
                    if now >= due:
                        await self._refresh_quietly()
                        due = loop.time() + refresh_s
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=max(0.01, due - loop.time())
                    )
                    if message is not None:
                        await self._refresh_quietly()
            except (ValkeyError, OSError) as exc:
                self._warn("no announcements from Valkey; re-reading MongoDB periodically", exc)
                await self._refresh_quietly()
                await asyncio.sleep(refresh_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except PyMongoError as exc:
            self._warn("cannot read the switchboard; keeping the current state", exc)
        except (ValkeyError, ServiceUnavailableError) as exc:
            self._warn("cannot release held deliveries", exc)

    # -- changing it -----------------------------------------------------------------------

    def _check_keys(self, changes: Mapping[str, bool]) -> None:
        unknown = [k for k in changes if k not in self._defaults and k not in self.toggles]
        if unknown:
            known = ", ".join([*self._defaults, *self.toggles])
            raise NotFoundError(
                f"no plugin or feature named {unknown[0]!r} is loaded; known: {known}",
                details={"key": unknown[0]},
            )
        for key in changes:
            if key in self.essential and not changes[key]:
                raise ConflictError(
                    f"plugin {key!r} is essential and always on", details={"plugin": key}
                )

    def _check_requires(self, plugins: Mapping[str, bool]) -> None:
        for name, on in plugins.items():
            if not on:
                continue
            for needed in self.requires[name]:
                if not plugins.get(needed, False):
                    raise ConflictError(
                        f"plugin {needed!r} is required by active plugin {name!r}",
                        details={"plugin": needed, "requiredBy": name},
                    )

    async def set(
        self,
        changes: Mapping[str, bool],
        *,
        by: str,
        source: str,
        pin: bool = False,
        defaults: Mapping[str, bool] | None = None,
        dry_run: bool = False,
    ) -> list[ToggleChange]:
        """Switch plugins (``"search"``) and features (``"realtime.typing"``) on or off on
        every process: the new state is stored, recorded and announced, and applied here
        at once; the other processes follow within a second (``refresh_s`` at worst).

        Args:
            changes: key -> on.
            by: who asks (an admin's id or email, ``cli:<user>``), for the history.
            source: ``api``, ``cli`` or ``config apply``.
            pin: store every key of ``changes`` even where it equals this process's
                effective value (``keel config apply``: processes started with another
                ``config.toml`` have other defaults, so each value must be explicit).
            defaults: the running processes' defaults (what they recorded at start), to
                report ``before`` as they see it for keys no operator set.
            dry_run: only say what would change.

        Returns:
            What changed (empty when everything already was so; no new version then).

        Raises:
            NotFoundError: a key names no loaded plugin or declared feature.
            ConflictError: an essential plugin switched off, a plugin an active one
                ``requires`` switched off, or one switched on without what it requires.
            ServiceUnavailableError: MongoDB unreachable, or the document kept changing.
        """
        self._check_keys(changes)
        try:
            for _ in range(CAS_ATTEMPTS):
                doc = await self._read()
                current = self._state_of(doc)
                plugins = dict(current.plugins)
                features = dict(current.features)
                for key, on in changes.items():
                    (plugins if key in self._defaults else features)[key] = on
                self._check_requires(plugins)
                before = {**current.plugins, **current.features}
                for key, value in (defaults or {}).items():
                    if key in before and key not in current.stored:
                        before[key] = value
                diff = [
                    ToggleChange(key=k, before=before[k], after=v)
                    for k, v in changes.items()
                    if before[k] != v
                ]
                unpinned = pin and any(current.stored.get(k) != v for k, v in changes.items())
                if dry_run:
                    return diff
                if not diff and not unpinned:
                    await self._apply(current)
                    return []
                if await self._write(doc, current, changes, by):
                    break
            else:
                raise ServiceUnavailableError("the switchboard kept changing; try again")
            version = current.version + 1
            await self._collection(ToggleHistory).insert_one(
                {
                    "version": version,
                    "at": datetime.now(UTC),
                    "by": by,
                    "source": source,
                    "changes": msgspec.to_builtins(diff),
                }
            )
        except PyMongoError as exc:
            raise ServiceUnavailableError("the database is unavailable; nothing changed") from exc
        await self._announce(version)
        await self._refresh_quietly()
        return diff

    async def record_config(self, config: list[list[Any]]) -> None:
        """Store what this process started with (its loaded plugins, features and other
        settings, secrets masked), for ``keel config apply`` to compare an edited file to.
        The last process to start wins: every process of a deployment should agree."""
        doc = {
            "loaded": list(self._defaults),
            "features": list(self.toggles),
            "defaults": [
                *([k, v] for k, v in self._defaults.items()),
                *([k, t.default] for k, t in self.toggles.items()),
            ],
            "settings": config,
            "at": datetime.now(UTC),
        }
        await self._collection(SwitchboardDoc).replace_one(
            {"_id": RUNNING_CONFIG_ID}, doc, upsert=True
        )

    async def running_config(self) -> dict[str, Any] | None:
        """What the last process to start recorded (:meth:`record_config`), or None."""
        doc: dict[str, Any] | None = await self._collection(SwitchboardDoc).find_one(
            {"_id": RUNNING_CONFIG_ID}
        )
        return doc

    async def _write(
        self,
        doc: Mapping[str, Any] | None,
        current: _State,
        changes: Mapping[str, bool],
        by: str,
    ) -> bool:
        stored = {**current.stored, **changes}
        plugins = {k: v for k, v in stored.items() if k in self._defaults}
        features: dict[str, dict[str, bool]] = {}
        if doc is not None:  # keep what processes with other plugins loaded have set
            plugins = {**(doc.get("plugins") or {}), **plugins}
            for plugin, table in (doc.get("features") or {}).items():
                features[plugin] = dict(table or {})
        for key, on in stored.items():
            if key in self.toggles:
                plugin, _, feature = key.partition(".")
                features.setdefault(plugin, {})[feature] = on
        body = {"plugins": plugins, "features": features, "at": datetime.now(UTC), "by": by}
        boards = self._collection(SwitchboardDoc)
        if doc is None:
            try:
                await boards.insert_one({"_id": DOC_ID, "version": 1, **body})
            except DuplicateKeyError:
                return False
            return True
        result = await boards.update_one(
            {"_id": DOC_ID, "version": doc["version"]},
            {"$set": body, "$inc": {"version": 1}},
        )
        return bool(result.modified_count)

    async def _announce(self, version: int) -> None:
        try:
            await self.keel.valkey.publish(self.keel.key("toggles"), str(version))
        except (ValkeyError, OSError) as exc:
            refresh_s = self.keel.settings.toggles.refresh_s
            log.warning(
                "toggles: version %d stored but not announced (%s); every process follows"
                " within %.0f s",
                version,
                exc,
                refresh_s,
            )

    async def history(self, *, page: int = 1, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """One page of the changes, newest first, and how many there are in all."""
        history = self._collection(ToggleHistory)
        cursor = history.find({}, {"_id": 0}).sort("version", -1).skip((page - 1) * limit)
        items = [doc async for doc in cursor.limit(limit)]
        return items, await history.count_documents({})
