"""One request of the run (:class:`Step`) and the helpers steps share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NONE = "-"
"""``Step.auth`` for an anonymous request."""


@dataclass(frozen=True)
class Step:
    """One request of the run.

    Attributes:
        op: ``"METHOD /path"`` as in the document.
        name: the request's name (default: the operation's summary).
        auth: the variable holding the bearer token (``NONE``: anonymous; None: the
            collection's ``accessToken``, or anonymous when the document asks for none).
        body: top-level fields set over the generated JSON body.
        raw: the whole raw body instead.
        query: query parameters to enable, with their values.
        path: path variables' values (default ``{{<camelCaseName>}}``).
        headers: headers to send.
        save: variable -> JavaScript expression over ``body``, saved after the tests.
        pre: JavaScript run before the request.
        until: a JavaScript condition over ``body``: resend until it holds.
        status: the expected status, when not the lowest documented 2xx.
    """

    op: str
    name: str = ""
    auth: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    raw: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    path: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    save: Mapping[str, str] = field(default_factory=dict)
    pre: str = ""
    until: str = ""
    status: int | None = None


def tokens(role: str) -> dict[str, str]:
    return {
        "accessToken": "body.accessToken",
        "refreshToken": "body.refreshToken",
        f"{role}Token": "body.accessToken",
    }


def login(role: str, email: str, password: str) -> Step:
    return Step(
        "POST /api/auth/login",
        f"Log in as the {role}",
        auth=NONE,
        body={"email": email, "password": password},
        save=tokens(role),
    )


NEW_USER = "newUserToken"
"""The variable holding the token of the account the run registers."""
FIND = "(body.items || []).find((x) => {cond})"
"""JavaScript: the first of ``body.items`` for which ``{cond}`` holds."""
