"""Backups: the job, ``keel backup`` / ``keel restore``, and a document-by-document round trip."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import stat
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import bson
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
SEEDED_ELSEWHERE = 8
"""The seed's other documents, plus the switchboard's record of the app's configuration
(``core_toggles``, written when the app starts)."""


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


async def _keel(args: list[str], config: Path, key: str | None = None) -> Result:
    """``keel ARGS`` with ``config``, and ``KEEL_BACKUP_KEY`` set to ``key`` (None: unset)."""
    runner = CliRunner()
    env = {"KEEL_CONFIG": str(config), "KEEL_BACKUP_KEY": key}
    return await asyncio.to_thread(runner.invoke, main, args, env=env, catch_exceptions=False)


def _config(path: Path, env: KeelTestApp, database: str, backup_dir: Path, cron: str = "") -> Path:
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
{cron}
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
        assert f"restored {THINGS + SEEDED_ELSEWHERE} documents" in restored.output
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
    assert run is not None
    assert (run["trigger"], run["outcome"]) == ("cli", "success")

    unknown = await _keel(["cron", "run", "cron.nope"], here)
    assert unknown.exit_code == 1
    assert "no schedule named 'cron.nope'" in unknown.output


KEY = "correct horse battery staple, but longer"
"""A ``KEEL_BACKUP_KEY`` passphrase (at least 32 characters)."""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def _documents(db: Any) -> int:
    """How many documents ``db`` holds, in every collection."""
    return sum([await db[name].count_documents({}) for name in await db.list_collection_names()])


async def _seed_big(db: Any) -> None:
    """Incompressible documents, so an encrypted archive spans several 64 KiB segments."""
    await db["noise"].insert_many([{"n": i, "bytes": Binary(os.urandom(4096))} for i in range(60)])


async def test_archives_are_0600_in_a_0700_directory_whatever_the_umask(
    backups: KeelTestApp,
) -> None:
    env = backups
    await env.user()
    directory = Path(env.settings.plugins.get("cron").backup_dir)
    assert not await asyncio.to_thread(directory.exists)

    old = os.umask(0o277)  # would leave the file 0400 and the directory 0500 without chmod
    try:
        first = Path((await jobs.backup_database({"keel": env.keel}))["path"])
    finally:
        os.umask(old)
    assert (_mode(directory), _mode(first)) == (0o700, 0o600)

    await asyncio.to_thread(directory.chmod, 0o755)  # pre-existing, with looser permissions
    second = Path((await jobs.backup_database({"keel": env.keel}))["path"])
    assert (_mode(directory), _mode(second)) == (0o700, 0o600)
    assert _names(directory) == [first.name, second.name]


async def test_encrypted_backup_round_trip_and_broken_archives_refused(
    env: KeelTestApp, tmp_path: Path
) -> None:
    source = env.keel.mongo[env.settings.database.name]
    await _seed(source)
    await _seed_big(source)
    backup_dir = tmp_path / "out"
    here = _config(tmp_path / "a.toml", env, source.name, backup_dir)
    target = env.keel.mongo[f"{source.name}_enc"]
    # Small batches: loading without verifying first would insert documents before the damage.
    there = _config(tmp_path / "b.toml", env, target.name, backup_dir, cron="batch_size = 10")
    try:
        made = await _keel(["backup", "--encrypt"], here, key=KEY)
        assert made.exit_code == 0, made.output
        (archive,) = list(backup_dir.iterdir())
        assert archive.name.endswith(".keelbak.gz.enc")
        assert _mode(archive) == 0o600
        data = archive.read_bytes()
        assert data.startswith(b"KEELBAK\x00")
        assert len(data) > 3 * 64 * 1024  # four segments or more

        half, sealed = len(data) // 2, 64 * 1024 + 16  # a segment's plaintext and tag
        middle = (half - 48) // sealed  # after the 48-byte header
        broken = {
            "flipped": data[:half] + bytes([data[half] ^ 1]) + data[half + 1 :],
            "truncated": data[:-100],
            "cut": data[: 48 + 2 * sealed],  # at a segment boundary
        }
        expected = {
            "flipped": f"segment {middle} fails authentication: the archive is damaged, truncated "
            "or was tampered with",
            "truncated": "fails authentication: the archive is damaged, truncated",
            "cut": "truncated archive (ends after segment 1)",
        }
        for name, content in broken.items():
            path = tmp_path / f"{name}.keelbak.gz.enc"
            path.write_bytes(content)
            refused = await _keel(["restore", str(path)], there, key=KEY)
            assert refused.exit_code == 1, (name, refused.output)
            assert refused.output.count("\n") == 1, refused.output
            assert refused.output.startswith(f"keel: {path}: "), refused.output
            assert expected[name] in refused.output, refused.output
            assert await _documents(target) == 0, name

        wrong = await _keel(["restore", str(archive)], there, key=KEY[::-1])
        assert (wrong.exit_code, wrong.output) == (
            1,
            f"keel: {archive}: wrong KEEL_BACKUP_KEY (or a damaged archive header)\n",
        )
        missing = await _keel(["restore", str(archive)], there)
        assert (missing.exit_code, missing.output) == (
            1,
            f"keel: {archive}: the archive is encrypted: set KEEL_BACKUP_KEY\n",
        )
        assert await _documents(target) == 0

        restored = await _keel(["restore", str(archive)], there, key=KEY)
        assert restored.exit_code == 0, restored.output
        assert f"restored {THINGS + SEEDED_ELSEWHERE + 60} documents" in restored.output
        before, after = await _snapshot(source), await _snapshot(target)
        for name in ("things", "strings_as_ids", "noise", "empty_one"):
            assert after[name] == before[name], name
    finally:
        await env.keel.mongo.drop_database(target.name)


def _rewrite(archive: Path, change: Any) -> bytes:
    """The plain archive's frames, each ``(kind, document)`` passed through ``change``."""
    data = gzip.decompress(archive.read_bytes())
    out, at = bytearray(), 0
    while at < len(data):
        kind, size = data[at : at + 1], int.from_bytes(data[at + 1 : at + 5], "little")
        out += change(kind, data[at + 1 : at + 1 + size])
        at += 1 + size
    return gzip.compress(bytes(out))


async def test_plain_archive_with_a_changed_document_is_refused(
    env: KeelTestApp, tmp_path: Path
) -> None:
    source = env.keel.mongo[env.settings.database.name]
    await _seed(source)
    backup_dir = tmp_path / "out"
    here = _config(tmp_path / "a.toml", env, source.name, backup_dir)
    target = env.keel.mongo[f"{source.name}_plain"]
    # Small batches: loading without verifying first would insert documents before the damage.
    there = _config(tmp_path / "b.toml", env, target.name, backup_dir, cron="batch_size = 10")
    try:
        assert (await _keel(["backup"], here)).exit_code == 0
        (archive,) = list(backup_dir.iterdir())
        assert archive.name.endswith(".keelbak.gz")
        plain = gzip.decompress(archive.read_bytes())
        flipped = plain.replace("ünïcødé".encode(), "ünïcødè".encode(), 1)  # same length
        assert flipped != plain
        tampered = tmp_path / "tampered.keelbak.gz"
        tampered.write_bytes(gzip.compress(flipped))

        refused = await _keel(["restore", str(tampered)], there)
        assert (refused.exit_code, refused.output) == (
            1,
            f"keel: {tampered}: checksum mismatch: the archive is damaged or was tampered with\n",
        )
        assert await _documents(target) == 0

        def as_version_1(kind: bytes, body: bytes) -> bytes:
            doc = bson.decode(body)
            if kind == b"H":
                doc["version"] = 1
            elif kind == b"E":
                del doc["sha256"]
            return kind + (bson.encode(doc) if kind in (b"H", b"E") else body)

        old = tmp_path / "old.keelbak.gz"
        old.write_bytes(_rewrite(archive, as_version_1))
        restored = await _keel(["restore", str(old)], there)
        assert restored.exit_code == 0, restored.output
        assert (
            restored.stderr
            == f"keel: warning: {old} is a version-1 archive: no checksum to verify\n"
        )
        assert (await _snapshot(target))["things"] == (await _snapshot(source))["things"]
    finally:
        await env.keel.mongo.drop_database(target.name)


async def test_encryption_without_a_key_fails_clearly(
    env: KeelTestApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = env.keel.mongo[env.settings.database.name]
    await source["things"].insert_one({"n": 1})
    backup_dir = tmp_path / "out"
    plain = _config(tmp_path / "a.toml", env, source.name, backup_dir)
    encrypting = _config(
        tmp_path / "b.toml", env, source.name, backup_dir, cron="backup_encrypt = true"
    )

    flag = await _keel(["backup", "--encrypt"], plain)
    assert (flag.exit_code, flag.output) == (
        1,
        "keel: backups are to be encrypted, but KEEL_BACKUP_KEY is not set: "
        "it must hold the backup passphrase\n",
    )
    short = await _keel(["backup", "--encrypt"], plain, key="too short")
    assert short.exit_code == 1
    assert "KEEL_BACKUP_KEY must be at least 32 characters long (it has 9)" in short.output
    setting = await _keel(["backup"], encrypting)
    assert setting.exit_code == 1
    assert "KEEL_BACKUP_KEY is not set" in setting.output
    scheduled = await _keel(["cron", "run", "cron.backup_database"], encrypting)
    assert scheduled.exit_code == 1
    assert (
        "cron.backup_database failed: BackupError: backups are to be encrypted, "
        "but KEEL_BACKUP_KEY is not set" in scheduled.output
    )
    assert not backup_dir.exists()  # nothing written, not even a plain archive

    made = await _keel(["cron", "run", "cron.backup_database"], encrypting, key=KEY)
    assert made.exit_code == 0, made.output
    opted_out = await _keel(["backup", "--no-encrypt"], encrypting)
    assert opted_out.exit_code == 0, opted_out.output
    names = sorted(p.name for p in backup_dir.iterdir())
    assert [n.split(".", 1)[1] for n in names] == ["keelbak.gz.enc", "keelbak.gz"]

    monkeypatch.delenv("KEEL_BACKUP_KEY", raising=False)
    target = env.keel.mongo[f"{source.name}_nokey"]
    with pytest.raises(BackupError, match="the archive is encrypted: set KEEL_BACKUP_KEY"):
        await restore_database(target, backup_dir / names[0])
