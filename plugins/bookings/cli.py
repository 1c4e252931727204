"""``keel demo``: seed demo users, services, reviews and bookings (idempotent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from core.cli import config_option
from core.context import settings_of
from plugins.bookings.settings import BookingsSettings

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.bookings.demo import DemoResult


@click.command("demo")
@config_option
def demo_command(config: str | None) -> None:
    """Seed a demo provider and customer, a few dozen services, reviews, and confirmed
    bookings that have ended (for the provider to complete).

    Safe to run again: what exists is left alone. Without configured database and
    Valkey URLs it uses the services of a running ``keel run``, or else starts the
    embedded services itself.
    """
    from core.cli import with_keel  # noqa: PLC0415 - keeps --help fast
    from plugins.bookings.demo import seed_demo  # noqa: PLC0415

    async def work(keel: Keel) -> DemoResult:
        return await seed_demo(keel, settings_of(keel, BookingsSettings).demo_password)

    result = with_keel(config, work)
    click.echo(
        f"demo data: {result.users_created} user(s), {result.services_created} service(s), "
        f"{result.reviews_created} review(s), {result.ended_bookings_created} ended booking(s) "
        "created"
    )
    click.echo(f"  provider: {result.provider_email}  password: {result.password}")
    click.echo(f"  customer: {result.customer_email}  password: {result.password}")
