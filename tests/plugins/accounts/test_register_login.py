"""Registration, login, throttling and password upgrades, end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2Hasher

from plugins.accounts._throttle import failure_delay_s
from plugins.accounts.documents import User

from .conftest import PASSWORD, Env, bearer, code_in, error_of, text_of


async def test_register_emails_a_code_that_verifies_and_signs_in(env: Env) -> None:
    email = env.email("New.User")
    response = await env.client.post(
        "/api/auth/register",
        json={"name": "New User", "email": email, "password": PASSWORD, "role": "provider"},
    )
    assert response.status_code == 202
    assert response.json()["status"] == "verification_sent"
    message = await env.mail_to(email)
    assert message.get_body(preferencelist=("html",)) is not None
    code = code_in(message)

    verified = await env.client.post(
        "/api/auth/verify-otp", json={"email": email.upper(), "code": code}
    )
    assert verified.status_code == 200, verified.text
    me = await env.client.get("/api/users/me", headers=bearer(verified.json()["accessToken"]))
    assert me.status_code == 200
    assert me.json() | {"id": None, "createdAt": None, "updatedAt": None} == {
        "id": None,
        "name": "New User",
        "email": email,
        "phone": None,
        "role": "provider",
        "avatar": None,
        "verified": True,
        "createdAt": None,
        "updatedAt": None,
    }
    await env.drain()
    names = [type(e).name for e in env.events]
    assert names == ["user.created", "user.updated"]
    assert env.events[1].changed == ["verified"]  # type: ignore[attr-defined]


async def test_register_with_a_taken_email_looks_the_same_and_warns_the_owner(env: Env) -> None:
    owner = await env.user()
    response = await env.client.post(
        "/api/auth/register",
        json={"name": "Copycat", "email": owner.email.upper(), "password": PASSWORD},
    )
    fresh = await env.client.post(
        "/api/auth/register",
        json={"name": "Fresh", "email": env.email(), "password": PASSWORD},
    )
    assert (response.status_code, response.json()) == (fresh.status_code, fresh.json())
    message = await env.mail_to(owner.email)
    assert "already have" in str(message["Subject"])
    assert await env.keel.db.count(User) == 2


async def _register(env: Env, email: str, password: str, name: str = "Someone") -> None:
    response = await env.client.post(
        "/api/auth/register", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 202
    assert response.json()["status"] == "verification_sent"


async def _verify(env: Env, email: str, code: str, password: str | None = None) -> int:
    body = {"email": email, "code": code} | ({"password": password} if password else {})
    return (await env.client.post("/api/auth/verify-otp", json=body)).status_code


async def test_registering_an_unverified_email_again_replaces_the_pending_account(
    env: Env,
) -> None:
    """Whoever pre-registers someone else's address keeps no password on it."""
    email = env.email("victim")
    await _register(env, email, "squatters own passphrase", "Squatter")
    squatters_code = code_in(await env.mail_to(email))
    await _register(env, email, PASSWORD, "Owner")
    message = await env.mail_to(email)
    assert "together with the password" in text_of(message)
    owners_code = code_in(message)
    assert await env.keel.db.count(User) == 1
    # the first registration's password and code are void
    old = await env.client.post(
        "/api/auth/login", json={"email": email, "password": "squatters own passphrase"}
    )
    assert old.status_code == 401
    if squatters_code != owners_code:
        assert await _verify(env, email, squatters_code, PASSWORD) == 401
    # the code confirms only with the newest registration's password
    assert await _verify(env, email, owners_code) == 401
    assert await _verify(env, email, owners_code, "squatters own passphrase") == 401
    response = await env.client.post(
        "/api/auth/verify-otp", json={"email": email, "code": owners_code, "password": PASSWORD}
    )
    assert response.status_code == 200
    me = await env.client.get("/api/users/me", headers=bearer(response.json()["accessToken"]))
    assert me.json()["name"] == "Owner"
    # once verified, a registration no longer replaces anything
    await _register(env, email, "another passphrase!", "Late Squatter")
    assert "already have" in str((await env.mail_to(email, contains="already"))["Subject"])
    await env.login(email)


async def test_registering_after_the_owner_does_not_hand_over_the_account(env: Env) -> None:
    """The reverse race: someone registers the owner's address right after the owner.
    The newest email's code then needs the newest registration's password, which the
    owner does not have; registering again puts the owner back in charge."""
    email = env.email("owner")
    await _register(env, email, PASSWORD, "Owner")
    await env.mail_to(email)
    await _register(env, email, "attackers passphrase", "Attacker")
    newest = code_in(await env.mail_to(email))
    assert await _verify(env, email, newest, PASSWORD) == 401  # the owner's try fails
    await _register(env, email, PASSWORD, "Owner")  # as the email tells them
    mine = code_in(await env.mail_to(email))
    assert await _verify(env, email, mine, PASSWORD) == 200
    attacker = await env.client.post(
        "/api/auth/login", json={"email": email, "password": "attackers passphrase"}
    )
    assert attacker.status_code == 401
    await env.login(email)


async def test_replacing_a_registration_keeps_the_code_budget(make_env: Callable[..., Any]) -> None:
    async with make_env(**{"auth.otp_daily_failures": 3}) as env:
        email = env.email()
        await _register(env, email, PASSWORD)
        code = code_in(await env.mail_to(email))
        for n in range(1, 4):
            assert await _verify(env, email, f"{(int(code) + n) % 1_000_000:06d}") == 401
        await _register(env, email, PASSWORD)  # a new registration buys no new guesses
        fresh = code_in(await env.mail_to(email))
        assert await _verify(env, email, fresh, PASSWORD) == 401


async def test_a_registered_user_is_known_without_a_database_read(env: Env) -> None:
    email = env.email()
    await env.client.post(
        "/api/auth/register", json={"name": "Marked", "email": email, "password": PASSWORD}
    )
    user = await env.keel.db.find_one(User, User.email_key == email.casefold())
    assert user is not None
    marker = await env.keel.valkey.get(env.keel.key("auth", "user", str(user.id)))
    assert marker == b"1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "admin"}, "role"),
        ({"verified": True}, "verified"),
        ({"email": {"$ne": None}}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "me@example.com\n"}, "email"),
        ({"email": "me@example.\x85com"}, "email"),  # a space to Python, not to JSON Schema
        ({"password": "short"}, "password"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
    ],
)
async def test_register_rejects_bad_input(env: Env, body: dict[str, object], field: str) -> None:
    payload = {"name": "A", "email": env.email(), "password": PASSWORD} | body
    response = await env.client.post("/api/auth/register", json=payload)
    assert response.status_code == 400, response.text
    assert field in str(error_of(response))
    assert await env.keel.db.count(User) == 0


@pytest.mark.parametrize("password", ["password", "ILoveYou", "qwertyuiop", "1qaz2wsx"])
async def test_register_rejects_common_passwords(env: Env, password: str) -> None:
    response = await env.client.post(
        "/api/auth/register", json={"name": "A", "email": env.email(), "password": password}
    )
    assert response.status_code == 422  # schema-valid, refused by the password policy
    assert error_of(response)["code"] == "unprocessable_entity"
    assert "common" in error_of(response)["message"]


async def test_minimum_length_is_configurable(make_env: Callable[..., Any]) -> None:
    async with make_env(**{"auth.password_min_length": 20}) as env:
        response = await env.client.post(
            "/api/auth/register",
            json={"name": "A", "email": env.email(), "password": "nineteen characters"},
        )
        assert response.status_code == 422
        assert error_of(response)["details"] == [
            {"field": "password", "message": "must be at least 20 characters long"}
        ]


async def test_unknown_email_and_wrong_password_get_the_same_answer(env: Env) -> None:
    user = await env.user()
    wrong = await env.client.post(
        "/api/auth/login", json={"email": user.email, "password": "not the password"}
    )
    unknown = await env.client.post(
        "/api/auth/login", json={"email": env.email(), "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_login_of_an_unverified_account_asks_for_the_emailed_code(env: Env) -> None:
    user = await env.user(verified=False)
    response = await env.client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 202
    assert response.json()["status"] == "otp_required"
    code = code_in(await env.mail_to(user.email, contains="code"))
    tokens = await env.client.post("/api/auth/verify-otp", json={"email": user.email, "code": code})
    assert tokens.status_code == 200


async def test_login_step_up_for_everyone_when_configured(make_env: Callable[..., Any]) -> None:
    async with make_env(**{"auth.login_otp": "always"}) as env:
        user = await env.user(verified=True)
        response = await env.client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 202
        message = await env.mail_to(user.email)
        assert "signing in" in str(message.get_body(preferencelist=("plain",)))


async def test_failed_logins_slow_that_account_down_from_that_ip_only(
    make_env: Callable[..., Any],
) -> None:
    async with make_env(**{"auth.login_free_failures": 3}) as env:
        user = await env.user()
        async with env.client_from("203.0.113.7") as attacker:
            for _ in range(3):
                bad = await attacker.post(
                    "/api/auth/login", json={"email": user.email, "password": "wrong password"}
                )
                assert bad.status_code == 401
            blocked = await attacker.post(
                "/api/auth/login", json={"email": user.email, "password": PASSWORD}
            )
            assert blocked.status_code == 429
            assert error_of(blocked)["code"] == "rate_limited"
            assert error_of(blocked)["details"]["retryAfterSeconds"] >= 1
            # unknown emails are throttled the same way: no enumeration through 429s
            ghost = env.email()
            for _ in range(3):
                await attacker.post("/api/auth/login", json={"email": ghost, "password": "x"})
            again = await attacker.post("/api/auth/login", json={"email": ghost, "password": "x"})
            assert again.status_code == 429
            assert error_of(again)["message"] == error_of(blocked)["message"]
        # the owner, elsewhere, signs in as usual
        await env.login(user.email)


async def test_the_wait_doubles_with_each_further_failure(make_env: Callable[..., Any]) -> None:
    settings = {"auth.login_free_failures": 1, "auth.login_delay_s": 1.0}
    async with make_env(**settings) as env:
        user = await env.user()
        wrong = {"email": user.email, "password": "wrong password"}
        assert (await env.client.post("/api/auth/login", json=wrong)).status_code == 401
        waits = []
        for _ in range(2):
            blocked = await env.client.post("/api/auth/login", json=wrong)
            assert blocked.status_code == 429
            waits.append(error_of(blocked)["details"]["retryAfterSeconds"])
            await asyncio.sleep(waits[-1] + 0.05)
            assert (await env.client.post("/api/auth/login", json=wrong)).status_code == 401
        assert waits == [1, 2]
        assert failure_delay_s(env.keel.settings.auth, 20) == 900  # capped


async def test_failed_logins_throttle_the_client_ip(make_env: Callable[..., Any]) -> None:
    async with make_env(**{"auth.login_max_failures_ip": 3}) as env:
        user = await env.user()
        for _ in range(3):
            await env.client.post("/api/auth/login", json={"email": env.email(), "password": "x"})
        response = await env.client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 429


async def test_a_weaker_stored_hash_is_upgraded_at_login(env: Env) -> None:
    weak = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user = await env.user()
    await env.keel.db.get_collection(User).update_one(
        {"_id": user.id}, {"$set": {"password_hash": weak}}
    )
    await env.login(user.email)
    stored = await env.keel.db.find_one(User, User.id == user.id)
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    await env.login(user.email)  # the new hash verifies


async def test_login_rejects_operator_objects(env: Env) -> None:
    await env.user()
    for body in (
        {"email": {"$ne": None}, "password": {"$ne": None}},
        {"email": {"$gt": ""}, "password": "x"},
        {"email": ["a@b.co"], "password": "x"},
    ):
        response = await env.client.post("/api/auth/login", json=body)
        assert response.status_code == 400
        error_of(response)


async def test_ipv6_clients_count_per_64(make_env: Callable[..., Any]) -> None:
    async with make_env(**{"auth.login_free_failures": 2}) as env:
        user = await env.user()
        wrong = {"email": user.email, "password": "wrong password"}
        for host in ("2001:db8:1:2::1", "2001:db8:1:2::2"):
            async with env.client_from(host) as client:
                assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
        async with env.client_from("2001:db8:1:2:ffff::9") as same_64:
            right = {"email": user.email, "password": PASSWORD}
            assert (await same_64.post("/api/auth/login", json=right)).status_code == 429
        async with env.client_from("2001:db8:1:3::1") as other_64:
            assert (await other_64.post("/api/auth/login", json=right)).status_code == 200


async def test_a_parallel_burst_of_guesses_gets_429s_not_guesses(
    make_env: Callable[..., Any],
) -> None:
    async with make_env(**{"auth.login_free_failures": 50}) as env:
        user = await env.user()
        wrong = {"email": user.email, "password": "wrong password"}
        assert (await env.client.post("/api/auth/login", json=wrong)).status_code == 401
        burst = await asyncio.gather(
            *(env.client.post("/api/auth/login", json=wrong) for _ in range(8))
        )
        statuses = sorted(r.status_code for r in burst)
        assert statuses.count(401) < 8, statuses  # they took turns
        assert set(statuses) <= {401, 429}
        await env.login(user.email)  # a single try afterwards is served as usual
