"""Per-user quotas (``max_files_per_user``, ``max_bytes_per_user``), the thumbnail job's bounds."""

from __future__ import annotations

import asyncio

import httpx

from core.settings import UploadsSettings
from core.testing import KeelTestApp
from plugins.uploads.documents import Upload, UploadUsage
from plugins.uploads.jobs import jobs

from .conftest import PDF, Build, error_of, stored_files, upload


async def _pdf(env: KeelTestApp, headers: dict[str, str]) -> httpx.Response:
    return await upload(env, headers, PDF, name="doc.pdf", declared="application/pdf")


async def test_one_file_over_the_count_quota_is_413_and_deleting_frees_it(
    keel_app_factory: Build,
) -> None:
    async with keel_app_factory(plugins=[], uploads__max_files_per_user=2) as env:
        user, headers = await env.signed_in()
        first, _ = [(await _pdf(env, headers)).json() for _ in range(2)]
        refused = await _pdf(env, headers)
        assert refused.status_code == 413
        error = error_of(refused)
        assert error["code"] == "payload_too_large"
        assert "max_files_per_user" in error["message"]
        assert error["details"] == {"maxFilesPerUser": 2, "usedFiles": 2}
        assert await env.keel.db.count(Upload) == 2
        assert len(stored_files(env)) == 2  # the refused file's staging copy is gone
        # others have their own quota
        _, other = await env.signed_in()
        assert (await _pdf(env, other)).status_code == 201
        gone = await env.client.delete(f"/api/uploads/{first['id']}", headers=headers)
        assert gone.status_code == 204
        assert (await _pdf(env, headers)).status_code == 201
        usage = await env.keel.db.find_one(UploadUsage, UploadUsage.id == user.id)
        assert usage is not None
        assert (usage.files, usage.bytes) == (2, 2 * len(PDF))


async def test_bytes_over_the_quota_are_413_naming_the_limit(keel_app_factory: Build) -> None:
    limit = len(PDF) * 2 + 10
    async with keel_app_factory(plugins=[], uploads__max_bytes_per_user=limit) as env:
        _, headers = await env.signed_in()
        kept = [(await _pdf(env, headers)).json() for _ in range(2)]
        refused = await _pdf(env, headers)
        assert refused.status_code == 413
        error = error_of(refused)
        assert "max_bytes_per_user" in error["message"]
        assert error["details"] == {"maxBytesPerUser": limit, "usedBytes": 2 * len(PDF)}
        # a batch that does not fit is refused whole
        await env.client.delete(f"/api/uploads/{kept[0]['id']}", headers=headers)
        files = [("files", ("a.pdf", PDF, "application/pdf"))] * 2
        batch = await env.client.post("/api/uploads/multiple", files=files, headers=headers)
        assert batch.status_code == 413
        assert "max_bytes_per_user" in error_of(batch)["message"]
        assert await env.keel.db.count(Upload) == 1
        assert (await _pdf(env, headers)).status_code == 201


async def test_parallel_uploads_never_pass_the_quota(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[], uploads__max_files_per_user=3) as env:
        user, headers = await env.signed_in()
        answers = await asyncio.gather(*[_pdf(env, headers) for _ in range(8)])
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] * 3 + [413] * 5
        assert await env.keel.db.count(Upload, Upload.owner_id == user.id) == 3
        usage = await env.keel.db.find_one(UploadUsage, UploadUsage.id == user.id)
        assert usage is not None
        assert (usage.files, usage.bytes) == (3, 3 * len(PDF))


async def test_uploads_made_before_the_ledger_count(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[], uploads__max_files_per_user=2) as env:
        user, headers = await env.signed_in()
        for _ in range(2):
            assert (await _pdf(env, headers)).status_code == 201
        await env.keel.db.get_collection(UploadUsage).delete_many({})  # as before quotas
        refused = await _pdf(env, headers)
        assert refused.status_code == 413
        usage = await env.keel.db.find_one(UploadUsage, UploadUsage.id == user.id)
        assert usage is not None
        assert (usage.files, usage.bytes) == (2, 2 * len(PDF))


def test_thumbnail_job_is_bounded_by_default() -> None:
    settings = UploadsSettings()
    assert settings.max_image_pixels == 16_000_000
    [job] = jobs(UploadsSettings(thumbnail_timeout_s=7))
    assert job.timeout == 7
    assert jobs(settings)[0].timeout == settings.thumbnail_timeout_s
