"""User endpoints: own profile, admin listing, visibility, admin changes, deletion."""

from __future__ import annotations

import pytest

from plugins.accounts.documents import RefreshToken, User

from .conftest import Env, bearer, error_of

BAD_IDS = ["nope", "0" * 23, "g" * 24, '{"$ne":null}', "%7B%22%24ne%22%3A1%7D", "$where"]


async def test_patch_me_changes_only_profile_fields(env: Env) -> None:
    user, headers = await env.signed_in()
    response = await env.client.patch(
        "/api/users/me", headers=headers, json={"name": "Renamed", "phone": "+33 1 23 45 67 89"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"
    assert response.json()["phone"] == "+33 1 23 45 67 89"
    cleared = await env.client.patch("/api/users/me", headers=headers, json={"phone": None})
    assert cleared.json()["phone"] is None
    await env.drain()
    assert [e.changed for e in env.events] == [["name", "phone"], ["phone"]]  # type: ignore[attr-defined]
    assert user.name != "Renamed"


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"verified": True},
        {"email": "new@example.com"},
        {"name": "ok", "role": "admin"},
        {"name": {"$ne": None}},
        {"name": ""},
        {"avatar": "x" * 3000},
        {"phone": "call me"},
    ],
)
async def test_patch_me_rejects_other_fields_and_bad_values(env: Env, body: object) -> None:
    user, headers = await env.signed_in()
    response = await env.client.patch("/api/users/me", headers=headers, json=body)
    assert response.status_code == 400
    error_of(response)
    stored = await env.keel.db.find_one(User, User.id == user.id)
    assert stored is not None
    assert (stored.role, stored.verified, stored.name) == (user.role, user.verified, user.name)


async def test_list_users_is_for_admins(env: Env) -> None:
    _, customer = await env.signed_in()
    assert (await env.client.get("/api/users")).status_code == 401
    response = await env.client.get("/api/users", headers=customer)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


async def test_list_users_pages_filters_and_sorts(env: Env) -> None:
    _, admin = await env.signed_in("admin")
    for _ in range(3):
        await env.user(role="provider")
    for _ in range(2):
        await env.user(role="customer")
    page = (await env.client.get("/api/users?limit=2&page=2", headers=admin)).json()
    assert (page["total"], page["page"], page["limit"], len(page["items"])) == (6, 2, 2, 2)
    providers = (await env.client.get("/api/users?role=provider", headers=admin)).json()
    assert providers["total"] == 3
    assert {u["role"] for u in providers["items"]} == {"provider"}
    by_email = (await env.client.get("/api/users?sort=email", headers=admin)).json()["items"]
    assert [u["email"] for u in by_email] == sorted(u["email"].casefold() for u in by_email)
    newest = (await env.client.get("/api/users", headers=admin)).json()["items"]
    assert [u["createdAt"] for u in newest] == sorted(
        (u["createdAt"] for u in newest), reverse=True
    )


@pytest.mark.parametrize(
    "query",
    [
        "limit=101",
        "limit=0",
        "page=0",
        "role=superuser",
        'role={"$ne":"admin"}',
        "role[$ne]=admin&role=x",
        "sort=password_hash",
        'sort={"$natural":1}',
    ],
)
async def test_list_users_rejects_bad_queries(env: Env, query: str) -> None:
    _, admin = await env.signed_in("admin")
    response = await env.client.get(f"/api/users?{query}", headers=admin)
    assert response.status_code == 400, response.text
    error_of(response)


async def test_list_users_ignores_operator_shaped_parameter_names(env: Env) -> None:
    _, admin = await env.signed_in("admin")
    await env.user(role="customer")
    response = await env.client.get("/api/users?role[$ne]=admin", headers=admin)
    assert response.status_code == 200
    assert response.json()["total"] == 2  # no filter was applied


async def test_get_user_shows_full_view_to_self_and_admin(env: Env) -> None:
    user, headers = await env.signed_in()
    _, admin = await env.signed_in("admin")
    for who in (headers, admin):
        body = (await env.client.get(f"/api/users/{user.id}", headers=who)).json()
        assert body["email"] == user.email


async def test_others_see_a_providers_public_profile_only(env: Env) -> None:
    provider = await env.user(role="provider")
    customer = await env.user(role="customer")
    _, stranger = await env.signed_in()
    body = (await env.client.get(f"/api/users/{provider.id}", headers=stranger)).json()
    assert body == {
        "id": str(provider.id),
        "name": provider.name,
        "role": "provider",
        "avatar": None,
    }
    response = await env.client.get(f"/api/users/{customer.id}", headers=stranger)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_bad_ids_are_404_never_500(env: Env, bad: str, method: str) -> None:
    _, admin = await env.signed_in("admin")
    body = {"verified": True} if method == "PATCH" else None
    response = await env.client.request(method, f"/api/users/{bad}", headers=admin, json=body)
    assert response.status_code == 404, response.text
    error_of(response)


async def test_a_user_cannot_change_or_delete_another_user(env: Env) -> None:
    victim, victim_headers = await env.signed_in()
    _, attacker = await env.signed_in()
    for method, body in (("PATCH", {"role": "admin"}), ("DELETE", None), ("GET", None)):
        response = await env.client.request(
            method, f"/api/users/{victim.id}", headers=attacker, json=body
        )
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert (await env.client.get("/api/users/me", headers=victim_headers)).status_code == 200
    stored = await env.keel.db.find_one(User, User.id == victim.id)
    assert stored is not None
    assert stored.role == "customer"


async def test_a_user_cannot_promote_themself(env: Env) -> None:
    user, headers = await env.signed_in()
    response = await env.client.patch(
        f"/api/users/{user.id}", headers=headers, json={"role": "admin"}
    )
    assert response.status_code == 403


async def test_admin_changes_role_and_the_old_token_stops_working(env: Env) -> None:
    user = await env.user()
    tokens = await env.login(user.email)
    _, admin = await env.signed_in("admin")
    response = await env.client.patch(
        f"/api/users/{user.id}", headers=admin, json={"role": "provider", "verified": False}
    )
    assert response.status_code == 200
    assert (response.json()["role"], response.json()["verified"]) == ("provider", False)
    old = await env.client.get("/api/users/me", headers=bearer(tokens["accessToken"]))
    assert old.status_code == 401
    refreshed = await env.client.post(
        "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
    )
    assert refreshed.status_code == 200
    me = await env.client.get("/api/users/me", headers=bearer(refreshed.json()["accessToken"]))
    assert me.json()["role"] == "provider"
    await env.drain()
    updated = [e for e in env.events if type(e).name == "user.updated"]
    assert [(e.changed, e.role) for e in updated] == [(["role", "verified"], "provider")]  # type: ignore[attr-defined]


async def test_admin_update_rejects_unknown_fields_and_bad_roles(env: Env) -> None:
    user = await env.user()
    _, admin = await env.signed_in("admin")
    for body in ({"role": "root"}, {"email": "x@y.co"}, {"role": {"$ne": "x"}}):
        response = await env.client.patch(f"/api/users/{user.id}", headers=admin, json=body)
        assert response.status_code == 400


async def test_delete_self_ends_the_account(env: Env) -> None:
    user, headers = await env.signed_in()
    response = await env.client.delete(f"/api/users/{user.id}", headers=headers)
    assert response.status_code == 204
    assert await env.keel.db.count(User) == 0
    assert await env.keel.db.count(RefreshToken) == 0
    assert (await env.client.get("/api/users/me", headers=headers)).status_code == 401
    await env.drain()
    assert [(type(e).name, e.user_id) for e in env.events] == [  # type: ignore[attr-defined]
        ("user.sessions_revoked", str(user.id)),
        ("user.deleted", str(user.id)),
    ]
    assert env.events[0].reason == "account_deleted"  # type: ignore[attr-defined]


async def test_admin_deletes_a_user(env: Env) -> None:
    user = await env.user()
    admin_user, admin = await env.signed_in("admin")
    assert (await env.client.delete(f"/api/users/{user.id}", headers=admin)).status_code == 204
    assert (await env.client.delete(f"/api/users/{user.id}", headers=admin)).status_code == 404
    await env.drain()
    assert env.events[-1].deleted_by == str(admin_user.id)  # type: ignore[attr-defined]


async def test_health_detailed_is_for_admins(env: Env) -> None:
    assert (await env.client.get("/health/detailed")).status_code == 401
    _, customer = await env.signed_in()
    assert (await env.client.get("/health/detailed", headers=customer)).status_code == 403
    _, admin = await env.signed_in("admin")
    response = await env.client.get("/health/detailed", headers=admin)
    assert response.status_code == 200, response.text


async def test_openapi_documents_every_accounts_route(env: Env) -> None:
    schema = (await env.client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/verify-otp",
        "/api/auth/resend-otp",
        "/api/auth/forgot-password",
        "/api/auth/reset-password",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/users",
        "/api/users/me",
        "/api/users/{user_id}",
    ):
        assert path in paths, path
    assert "BearerToken" in schema["components"]["securitySchemes"]
    assert paths["/api/users/me"]["get"]["security"] == [{"BearerToken": []}]
    login = paths["/api/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("Login")


async def test_the_api_looks_users_up_and_answers_none_for_what_is_no_id(env: Env) -> None:
    from plugins.accounts.api import get_user

    user = await env.user()
    found = await get_user(env.keel, str(user.id))
    assert found is not None
    assert (found["email"], "password_hash" in found) == (user.email, False)
    for nothing in ("not-an-id", "f" * 24):
        assert await get_user(env.keel, nothing) is None
