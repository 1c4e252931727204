"""The run's first part: accounts (the demo users sign in, a new account goes through
every flow) and uploads."""

from __future__ import annotations

from core.postman import _scripts as js
from core.postman._step import FIND, NEW_USER, NONE, Step, login, tokens

PEOPLE: list[Step] = [
    # accounts / auth: the demo users sign in; a new account goes through every flow
    login("admin", "{{adminEmail}}", "{{adminPassword}}"),
    login("provider", "{{providerEmail}}", "{{demoPassword}}"),
    login("customer", "{{customerEmail}}", "{{demoPassword}}"),
    Step(
        "POST /api/auth/refresh",
        "Refresh the tokens",
        auth=NONE,
        body={"refreshToken": "{{refreshToken}}"},
        save=tokens("customer"),
    ),
    Step(
        "POST /api/auth/register",
        "Register a new customer",
        auth=NONE,
        pre=js.NEW_USER,
        body={
            "name": "Postman User",
            "email": "{{newUserEmail}}",
            "password": "{{newUserPassword}}",
        },
    ),
    Step(
        "POST /api/auth/verify-otp",
        "Verify the emailed code",
        auth=NONE,
        pre=js.mailbox("otpCode", "sign-in code", "Your code is: ([0-9]{6})"),
        body={"email": "{{newUserEmail}}", "code": "{{otpCode}}"},
        save={NEW_USER: "body.accessToken"},
    ),
    Step(
        "POST /api/auth/resend-otp", "Resend a code", auth=NONE, body={"email": "{{newUserEmail}}"}
    ),
    Step(
        "POST /api/auth/login",
        "Log in as the new user",
        auth=NONE,
        body={"email": "{{newUserEmail}}", "password": "{{newUserPassword}}"},
        save={NEW_USER: "body.accessToken"},
    ),
    Step(
        "GET /api/auth/sessions",
        "List the new user's sessions",
        auth=NEW_USER,
        save={"sessionId": FIND.format(cond="!x.current") + ".id"},
    ),
    Step("DELETE /api/auth/sessions/{session_id}", "End the other session", auth=NEW_USER),
    Step(
        "POST /api/auth/change-password",
        "Change the password",
        auth=NEW_USER,
        body={"currentPassword": "{{newUserPassword}}", "newPassword": "{{newUserPassword}} 2"},
        save={
            NEW_USER: "body.accessToken",
            "newUserPassword": "pm.environment.get('newUserPassword') + ' 2'",
        },
    ),
    Step("POST /api/auth/forgot-password", auth=NONE, body={"email": "{{newUserEmail}}"}),
    Step(
        "POST /api/auth/reset-password",
        auth=NONE,
        pre=js.mailbox("resetToken", "Reset your", "reset token: ([A-Za-z0-9_-]+)"),
        body={"token": "{{resetToken}}", "password": "{{newUserPassword}} 3"},
        save={"newUserPassword": "pm.environment.get('newUserPassword') + ' 3'"},
    ),
    Step(
        "POST /api/auth/login",
        "Log in with the new password",
        auth=NONE,
        body={"email": "{{newUserEmail}}", "password": "{{newUserPassword}}"},
        save={NEW_USER: "body.accessToken"},
    ),
    Step("POST /api/auth/logout", auth=NEW_USER),
    Step(
        "POST /api/auth/login",
        "Log in once more",
        auth=NONE,
        body={"email": "{{newUserEmail}}", "password": "{{newUserPassword}}"},
        save={NEW_USER: "body.accessToken"},
    ),
    Step("POST /api/auth/logout-all", auth=NEW_USER),
    # accounts / users
    Step(
        "GET /api/users/me",
        "Who am I (provider)",
        auth="providerToken",
        save={"providerId": "body.id"},
    ),
    Step("GET /api/users/me", "Who am I", save={"customerId": "body.id"}),
    Step("PATCH /api/users/me", "Update my profile", body={"name": "Demo Customer"}),
    Step(
        "GET /api/users",
        "List users (admin), newest first",
        auth="adminToken",
        query={"limit": "100"},
        save={"userId": FIND.format(cond="x.email === pm.environment.get('newUserEmail')") + ".id"},
    ),
    Step("GET /api/users/{user_id}", auth="adminToken"),
    Step(
        "PATCH /api/users/{user_id}", auth="adminToken", body={"role": "customer", "verified": True}
    ),
    Step("DELETE /api/users/{user_id}", "Delete the new user (admin)", auth="adminToken"),
    # uploads: as the customer
    Step("POST /api/uploads", save={"uploadId": "body.id"}),
    Step("POST /api/uploads/multiple"),
    Step("GET /api/uploads"),
    Step("GET /api/uploads/{upload_id}"),
    Step("GET /api/uploads/{upload_id}/content", auth=NONE),
    Step("GET /api/uploads/{upload_id}/thumbnail", auth=NONE),
    Step("DELETE /api/uploads/{upload_id}"),
]
