"""Backups: the job, ``keel backup`` / ``keel restore``, and a document-by-document round trip."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import Binary, Decimal128, Int64, ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from click.testing import CliRunner, Result

from core.cli import main
from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.cron import jobs
from plugins.cron.backup import restore_database
from plugins.cron.errors import BackupError

RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
THINGS = 260
"""Documents in the main seeded collection: several batches of 50."""


async def _seed(db: Any) -> None:
    """A few collections with awkward types, more documents than a batch, and indexes."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    await db["things"].insert_many(
        [
            {
                "_id": ObjectId(),
                "n": i,
                "big": Int64(2**40 + i),
                "price": Decimal128(Decimal("19.99")),
                "at": base + timedelta(seconds=i),
                "blob": Binary(bytes([i % 256]) * 3),
                "uid": Binary.from_uuid(uuid.UUID(int=i)),
                "tags": ["a", {"deep": [1, 2.5, None, True]}],
                "text": "ünïcødé ✓",
            }
            for i in range(THINGS)
        ]
    )
    await db["things"].create_indexes(
        [
            pymongo.IndexModel([("n", 1)], unique=True, name="n_unique"),
            pymongo.IndexModel([("at", -1), ("text", 1)]),
            pymongo.IndexModel([("big", 1)], partialFilterExpression={"n": {"$gt": 10}}),
            pymongo.IndexModel([("at", 1)], expireAfterSeconds=10**9, name="ttl"),
        ]
    )
    await db["strings_as_ids"].insert_many([{"_id": f"k{i}", "v": i} for i in range(7)])
    await db.create_collection("empty_one")


async def _snapshot(db: Any) -> dict[str, Any]:
    """Every collection's raw documents (by ``_id``) and index specs."""
    result: dict[str, Any] = {}
    for name in sorted(await db.list_collection_names()):
        raw = db[name].with_options(codec_options=RAW)
        docs = [doc.raw async for doc in raw.find({}, sort=[("_id", 1)])]
        specs = [
            {k: v for k, v in dict(ix).items() if k not in ("v", "ns")}
            async for ix in db[name].list_indexes()
        ]
        indexes = sorted(specs, key=lambda ix: str(ix["name"]))
        result[name] = (docs, json.dumps(indexes, default=str, sort_keys=True))
    return result


@pytest.fixture
async def backups(keel_app_factory: AppFactory, tmp_path: Path) -> Any:
    overrides = {
        "plugins.cron.backup_dir": str(tmp_path / "backups"),
        "plugins.cron.backup_keep": 2,
        "plugins.cron.batch_size": 50,
    }
    async with keel_app_factory(plugins=["cron"], overrides=overrides) as env:
        yield env


async def test_backup_then_restore_reproduces_every_document_and_index(
    backups: KeelTestApp,
) -> None:
    env = backups
    source = env.keel.mongo[env.settings.database.name]
    await _seed(source)
    await env.user(role="admin")

    summary = await jobs.backup_database({"keel": env.keel})

    archive = Path(summary["path"])
    assert archive.parent == Path(env.settings.plugins.get("cron").backup_dir)
    assert summary["collections"]["things"] == THINGS
    assert summary["collections"]["users"] == 1
    target = env.keel.mongo[f"{env.settings.database.name}_restored"]
    try:
        restored = await restore_database(target, archive, batch_size=50)
        assert restored.collections == summary["collections"]
        before, after = await _snapshot(source), await _snapshot(target)
        assert sorted(before) == sorted(after)
        for name, (docs, indexes) in before.items():
            assert after[name][0] == docs, name  # byte for byte, document by document
            assert after[name][1] == indexes, name
        with pytest.raises(BackupError, match="not empty"):
            await restore_database(target, archive)
    finally:
        await env.keel.mongo.drop_database(target.name)


async def test_old_archives_are_pruned_and_broken_ones_refused(backups: KeelTestApp) -> None:
    env = backups
    await env.user()
    paths = [Path((await jobs.backup_database({"keel": env.keel}))["path"]) for _ in range(3)]

    directory = paths[0].parent
    kept = await asyncio.to_thread(lambda: sorted(p.name for p in directory.iterdir()))
    assert kept == [paths[1].name, paths[2].name]  # backup_keep = 2, no partial files left

    truncated = directory / "truncated.keelbak.gz"
    data = await asyncio.to_thread(lambda: gzip.decompress(paths[2].read_bytes()))
    await asyncio.to_thread(truncated.write_bytes, gzip.compress(data[:-20]))
    target = env.keel.mongo[f"{env.settings.database.name}_broken"]
    try:
        with pytest.raises(BackupError, match="truncated"):
            await restore_database(target, truncated)
    finally:
        await env.keel.mongo.drop_database(target.name)


async def _keel(args: list[str], config: Path) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, main, args, env={"KEEL_CONFIG": str(config)}, catch_exceptions=False
    )


def _config(path: Path, env: KeelTestApp, database: str, backup_dir: Path) -> Path:
    settings = env.settings
    path.write_text(
        f"""
[app]
env = "test"
[database]
url = "{settings.database.url}"
name = "{database}"
[valkey]
url = "{settings.valkey.url}"
key_prefix = "{settings.valkey.key_prefix}"
[plugins]
enabled = ["cron"]
[plugins.cron]
backup_dir = "{backup_dir}"
""",
        encoding="utf-8",
    )
    return path


async def test_keel_backup_restore_and_cron_commands(env: KeelTestApp, tmp_path: Path) -> None:
    source = env.keel.mongo[env.settings.database.name]
    await _seed(source)
    backup_dir = tmp_path / "out"
    here = _config(tmp_path / "a.toml", env, source.name, backup_dir)
    there = _config(tmp_path / "b.toml", env, f"{source.name}_cli", backup_dir)
    try:
        made = await _keel(["backup"], here)
        assert made.exit_code == 0, made.output
        (archive,) = await asyncio.to_thread(lambda: list(backup_dir.iterdir()))
        assert made.output.startswith(f"{archive}: ")

        restored = await _keel(["restore", str(archive)], there)
        assert restored.exit_code == 0, restored.output
        assert f"restored {THINGS + 7} documents" in restored.output
        target = env.keel.mongo[f"{source.name}_cli"]
        assert (await _snapshot(target))["things"] == (await _snapshot(source))["things"]
        again = await _keel(["restore", str(archive)], there)
        assert again.exit_code == 1
        assert "is not empty" in again.output
    finally:
        await env.keel.mongo.drop_database(f"{source.name}_cli")

    listed = await _keel(["cron", "list"], here)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:4] == ["name", "cron", "tz", "state"]
    rows = {cells[0]: cells for cells in (re.split(r"\s{2,}", line) for line in lines[1:])}
    assert set(rows) >= {"cron.backup_database", "cron.cleanup_otps", "cron.daily_report"}
    assert rows["cron.backup_database"][1:4] == ["0 3 * * *", "UTC", "on"]

    ran = await _keel(["cron", "run", "cron.cleanup_otps"], here)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output[ran.output.index("{") :]) == {"otps_deleted": 0}
    run = await source["core_schedule_runs"].find_one({"schedule": "cron.cleanup_otps"})
    assert (run["trigger"], run["outcome"]) == ("cli", "success")

    unknown = await _keel(["cron", "run", "cron.nope"], here)
    assert unknown.exit_code == 1
    assert "no schedule named 'cron.nope'" in unknown.output
