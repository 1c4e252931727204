"""``core.Stash`` (typed per-process state) and ``core.settings_of`` (typed plugin settings)."""

from __future__ import annotations

import asyncio
from typing import assert_type

import msgspec
import pytest

from core import Plugin, Stash, StashKey, settings_of
from core.pluginhost import PluginHost
from core.runtime import SCHEDULER, get_scheduler
from core.scheduler import Scheduler
from core.testing import KeelFactory, SettingsFactory

COUNT = StashKey[int]("test.count")
NAMES = StashKey[list[str]]("test.names")


class ReviewsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    max_length: int = 2000
    """Longest review."""


class ReviewsPlugin(Plugin):
    name = "reviews"
    settings_type = ReviewsSettings
    settings: ReviewsSettings


class CopyOfReviewsPlugin(Plugin):
    name = "reviews_copy"
    settings_type = ReviewsSettings


class BareSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings no enabled plugin uses."""


class BarePlugin(Plugin):
    name = "bare"


# -- Stash -------------------------------------------------------------------------------


def test_values_come_back_with_their_key_type() -> None:
    stash = Stash()
    stash[COUNT] = 3
    stash[NAMES] = ["a"]

    assert_type(stash[COUNT], int)
    assert_type(stash.get(NAMES, None), list[str] | None)
    assert stash[COUNT] == 3
    assert stash[NAMES] == ["a"]
    assert COUNT in stash
    assert len(stash) == 2


def test_keys_with_the_same_name_are_different_keys() -> None:
    stash = Stash()
    first, second = StashKey[str]("same"), StashKey[str]("same")
    stash[first] = "one"

    assert second not in stash
    assert stash.get(second, "absent") == "absent"
    assert repr(first) == "StashKey('same')"


def test_a_missing_key_raises_key_error_naming_it() -> None:
    stash = Stash()

    with pytest.raises(KeyError, match=r"StashKey\('test.count'\)"):
        stash[COUNT]
    with pytest.raises(KeyError):
        del stash[COUNT]
    with pytest.raises(KeyError):
        stash.pop(COUNT)


def test_get_setdefault_pop_and_delete() -> None:
    stash = Stash()

    assert stash.get(COUNT, 0) == 0
    assert COUNT not in stash  # get never stores
    assert stash.setdefault(COUNT, 1) == 1
    assert stash.setdefault(COUNT, 2) == 1
    assert stash.pop(COUNT) == 1
    assert stash.pop(COUNT, None) is None
    stash[COUNT] = 5
    del stash[COUNT]
    assert len(stash) == 0


def test_get_or_create_builds_only_when_missing() -> None:
    stash = Stash()
    built: list[int] = []

    def build() -> list[str]:
        built.append(1)
        return []

    first = stash.get_or_create(NAMES, build)
    first.append("x")

    assert stash.get_or_create(NAMES, build) is first
    assert stash[NAMES] == ["x"]
    assert built == [1]


def test_get_or_create_stores_nothing_when_the_factory_raises() -> None:
    stash = Stash()

    def broken() -> int:
        raise RuntimeError("no connection")

    with pytest.raises(RuntimeError, match="no connection"):
        stash.get_or_create(COUNT, broken)
    assert COUNT not in stash
    assert stash.get_or_create(COUNT, lambda: 7) == 7


async def test_get_or_create_builds_once_for_concurrent_tasks() -> None:
    stash = Stash()
    built: list[object] = []

    def build() -> list[str]:
        built.append(object())
        return []

    async def use(i: int) -> list[str]:
        await asyncio.sleep(0.001 * (i % 3))  # tasks interleave before and after the call
        names = stash.get_or_create(NAMES, build)
        await asyncio.sleep(0)
        return names

    found = await asyncio.gather(*(use(i) for i in range(50)))

    assert len(built) == 1
    assert all(names is found[0] for names in found)


async def test_each_keel_has_its_own_stash(keel_factory: KeelFactory) -> None:
    one, two = await keel_factory(), await keel_factory()
    one.stash[COUNT] = 1

    assert COUNT not in two.stash
    assert get_scheduler(one) is one.stash[SCHEDULER]  # open_keel built it
    assert isinstance(get_scheduler(two), Scheduler)
    assert get_scheduler(two) is not get_scheduler(one)


# -- settings_of -------------------------------------------------------------------------


async def test_settings_of_a_keel_is_the_decoded_table(keel_factory: KeelFactory) -> None:
    keel = await keel_factory(ReviewsPlugin, plugins__reviews__max_length="500")

    settings = settings_of(keel, ReviewsSettings)

    assert_type(settings, ReviewsSettings)
    assert settings == ReviewsSettings(max_length=500)
    assert settings is keel.host.plugins["reviews"].settings


def test_settings_of_a_host_or_settings(keel_settings_factory: SettingsFactory) -> None:
    settings, installed = keel_settings_factory.for_plugins(
        [ReviewsPlugin, BarePlugin], plugins__reviews__max_length=10
    )
    host = PluginHost(settings, installed)

    assert settings_of(host, ReviewsSettings).max_length == 10
    assert settings_of(settings, ReviewsSettings).max_length == 10


def test_settings_of_an_unused_or_shared_type_is_refused(
    keel_settings_factory: SettingsFactory,
) -> None:
    settings, installed = keel_settings_factory.for_plugins([ReviewsPlugin, CopyOfReviewsPlugin])
    host = PluginHost(settings, installed)

    with pytest.raises(LookupError, match="no plugin has settings type BareSettings"):
        settings_of(host, BareSettings)
    with pytest.raises(LookupError, match="plugins 'reviews', 'reviews_copy' share"):
        settings_of(host, ReviewsSettings)
