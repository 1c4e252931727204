"""Each event of the reactions table gives the right emails and in-app notifications."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.accounts.documents import User
from plugins.accounts.events import UserCreated
from plugins.notifications.models import Preference

from . import _publisher as pub
from ._publisher import RECEIVED
from .conftest import html_of, inbox_of, text_of

PREFS = "/api/notifications/preferences"


@dataclass
class Case:
    """An event and what each party must receive."""

    make: Callable[[User, User], Any]
    email_to: str  # "customer", "provider" or "" (no email)
    subject: str
    line: str
    in_app: dict[str, str] = field(default_factory=dict)  # party -> title


CASES = [
    Case(
        pub.created,
        "customer",
        "Booking received: Yoga class",
        "Booking reference: " + "b0" * 12,
        {"customer": "Booking received: Yoga class", "provider": "New booking: Yoga class"},
    ),
    Case(
        pub.confirmed,
        "customer",
        "Your booking of Yoga class is confirmed",
        "Status: pending -> confirmed",
        {"customer": "Booking confirmed: Yoga class"},
    ),
    Case(
        pub.cancelled,
        "provider",
        "Booking cancelled: Yoga class",
        "Reason: I am ill",
        {"provider": "Booking cancelled: Yoga class"},
    ),
    Case(
        pub.reminder,
        "customer",
        "Reminder: Yoga class on 2026-12-01",
        "Starts: Tue 01 Dec 2026, 10:00 (Europe/Paris)",
        {"customer": "Reminder: Yoga class on 2026-12-01"},
    ),
    Case(
        lambda c, _p: pub.paid(c),
        "customer",
        "Receipt: 12.50 EUR paid",
        "Amount paid: 12.50 EUR",
        {"customer": "Payment received: 12.50 EUR"},
    ),
    Case(
        lambda c, _p: pub.payment_failed(c),
        "customer",
        "Your payment of 12.50 EUR failed",
        "We could not take your payment of 12.50 EUR.",
        {"customer": "Payment failed: 12.50 EUR"},
    ),
    Case(
        pub.reviewed,
        "customer",
        "Thank you for reviewing Yoga class",
        "Your rating: 5/5",
        {"provider": "New review of Yoga class: 5/5"},
    ),
]


async def test_each_event_gives_its_email_and_in_app_notifications(env: KeelTestApp) -> None:
    parties = []
    for case in CASES:  # fresh users per case, so each mailbox and inbox holds one case
        customer, provider = await env.user(), await env.user(role="provider")
        parties.append({"customer": customer, "provider": provider})
        await env.keel.events.emit(case.make(customer, provider))
    await env.drain()

    for case, people in zip(CASES, parties, strict=True):
        name = case.make.__name__
        for party, user in people.items():
            mail = env.mailbox.messages(to=user.email)
            if party == case.email_to:
                assert [str(m["Subject"]) for m in mail] == [case.subject], name
                assert case.line in text_of(mail[0]), name
                assert f"Hello {user.name}" in html_of(mail[0]), name
            else:
                assert mail == [], (name, party)
            titles = [n["title"] for n in await inbox_of(env, user)]
            assert titles == ([case.in_app[party]] if party in case.in_app else []), (name, party)
    # every in-app notification was announced once with notification.created
    assert len(RECEIVED) == sum(len(c.in_app) for c in CASES)
    assert {e.kind for e in RECEIVED} == {
        "booking.created",
        "booking.updated",
        "booking.cancelled",
        "booking.reminder_due",
        "payment.completed",
        "payment.failed",
        "review.created",
    }


async def test_user_created_sends_a_welcome_email(env: KeelTestApp) -> None:
    email = "new.person@example.com"
    await env.keel.events.emit(
        UserCreated(user_id="ab" * 12, email=email, display_name="New Person", role="customer")
    )
    await env.drain()
    (mail,) = env.mailbox.messages(to=email)
    assert str(mail["Subject"]) == "Welcome, New Person"
    assert f"Your account ({email}) is ready." in text_of(mail)


async def test_deleting_an_account_sends_a_confirmation_and_forgets_it(
    env: KeelTestApp,
) -> None:
    user, headers = await env.signed_in()
    await env.keel.events.emit(pub.paid(user))
    body = {"preferences": {"booking.created": {"email": False}}}
    assert (await env.client.put(PREFS, json=body, headers=headers)).status_code == 200
    await env.drain()
    assert len(await inbox_of(env, user)) == 1
    response = await env.client.delete(f"/api/users/{user.id}", headers=headers)
    assert response.status_code == 204
    await env.drain()
    receipt, mail = env.mailbox.messages(to=user.email)
    assert str(receipt["Subject"]) == "Receipt: 12.50 EUR paid"
    assert str(mail["Subject"]) == "Your account has been deleted"
    assert f"Your account {user.email} has been deleted" in text_of(mail)
    assert await inbox_of(env, user) == []
    assert await env.keel.db.get_collection(Preference).count_documents({"user_id": user.id}) == 0


async def test_works_with_every_publisher_disabled(keel_app_factory: AppFactory) -> None:
    """No bookings, no payments: their listeners stay idle and accounts' events still work."""
    async with keel_app_factory(plugins=["notifications"]) as env:
        assert "booking.created" not in env.keel.events.catalog()
        email = "alone@example.com"
        await env.keel.events.emit(
            UserCreated(user_id="cd" * 12, email=email, display_name="Al", role="provider")
        )
        await env.drain()
        assert [str(m["Subject"]) for m in env.mailbox.messages(to=email)] == ["Welcome, Al"]
