"""``keel demo``: seeds through the service layer, idempotently."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from core.cli import main
from core.settings import CONFIG_ENV
from core.testing import KeelTestApp
from plugins.bookings.demo import CUSTOMER_EMAIL, ENDED_CONFIRMED, PROVIDER_EMAIL, seed_demo
from plugins.bookings.models import Booking, Review, Service

from .conftest import seen

PASSWORD = "another demo passphrase"


async def test_demo_seeds_once_and_its_users_can_log_in(env: KeelTestApp, tmp_path: Path) -> None:
    first = await seed_demo(env.keel, PASSWORD)
    assert first.users_created == 2
    assert first.services_created >= 24
    assert first.reviews_created > 0
    services = env.keel.db.get_collection(Service)
    assert await services.count_documents({}) == first.services_created
    assert await env.keel.db.get_collection(Review).count_documents({}) == first.reviews_created
    assert len(await services.distinct("category")) >= 6
    await env.drain()
    assert len(seen("service.created")) == first.services_created
    assert len(seen("review.created")) == first.reviews_created
    for email in (PROVIDER_EMAIL, CUSTOMER_EMAIL):
        tokens = await env.login(email, PASSWORD)
        assert tokens["accessToken"]
    listing = (await env.client.get("/api/services", params={"sort": "price"})).json()
    assert listing["total"] == first.services_created

    output = await _keel_demo(env, tmp_path)  # the CLI on the same data: nothing new
    assert "demo data: 0 user(s), 0 service(s), 0 review(s), 0 ended booking(s) created" in output
    assert f"provider: {PROVIDER_EMAIL}  password: {PASSWORD}" in output
    assert f"customer: {CUSTOMER_EMAIL}  password: {PASSWORD}" in output
    assert await services.count_documents({}) == first.services_created
    assert await env.keel.db.get_collection(Booking).count_documents({"status": "confirmed"}) == (
        ENDED_CONFIRMED
    )


async def test_demo_has_ended_confirmed_bookings_the_provider_can_complete(
    env: KeelTestApp,
) -> None:
    result = await seed_demo(env.keel, PASSWORD)
    assert result.ended_bookings_created == ENDED_CONFIRMED == 2
    provider = await env.login(PROVIDER_EMAIL, PASSWORD)
    headers = {"Authorization": f"Bearer {provider['accessToken']}"}
    listing = await env.client.get("/api/bookings", params={"status": "confirmed"}, headers=headers)
    ended = listing.json()["items"]
    assert len(ended) == ENDED_CONFIRMED
    for booking in ended:
        done = await env.client.post(f"/api/bookings/{booking['id']}/complete", headers=headers)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed"
    customer = await env.login(CUSTOMER_EMAIL, PASSWORD)
    review = await env.client.post(
        f"/api/bookings/{ended[0]['id']}/review",
        json={"rating": 5},
        headers={"Authorization": f"Bearer {customer['accessToken']}"},
    )
    assert review.status_code == 201, review.text


async def _keel_demo(env: KeelTestApp, tmp_path: Path) -> str:
    """Run ``keel demo`` on this test's database and key prefix; its output."""
    settings = env.keel.settings
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "{settings.database.url}"
name = "{settings.database.name}"
[valkey]
url = "{settings.valkey.url}"
key_prefix = "{settings.valkey.key_prefix}"
[plugins]
enabled = ["bookings"]
[plugins.bookings]
demo_password = "{PASSWORD}"
""",
        encoding="utf-8",
    )
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["demo", "--config", str(config)],
        env={CONFIG_ENV: str(config)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.output
