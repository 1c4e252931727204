"""Secrets never at rest: codes and reset tokens stay out of Valkey, its RDB file and the logs.

Each test runs the real flow (HTTP request, burst worker, SMTP) on the session stack, takes
the secrets from what an SMTP server received, then searches for them in every value of
the test's Valkey keys, in an RDB file written by ``SAVE`` (uncompressed, so a secret
would show as plain bytes) and in every log record, formatted the way keel's log files
write them. The failing cases use a real SMTP server that takes the message and then
refuses it, quoting the lines that hold the code or the link (as content filters do), so
the secret is known even though no email was delivered (see :mod:`._at_rest`).
"""

from __future__ import annotations

import logging
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from saq.job import Status

from core.context import Keel
from core.logging import JsonFormatter

from ._at_rest import (
    RefusingSmtp,
    failed_mail_job,
    failure_lines,
    mail_jobs,
    occurrences,
    rdb_file,
    refusing_smtp_server,
    reset_tokens,
    valkey_values,
)
from .conftest import PASSWORD, Env, code_in, reset_token_in, text_of

RETRIES = 3
"""Attempts of a failing mail job (``queue.retries``)."""


@pytest.fixture
async def refusing_smtp() -> AsyncIterator[RefusingSmtp]:
    """An SMTP server that refuses every message, quoting it (see :class:`RefusingSmtp`)."""
    async with refusing_smtp_server() as smtp:
        yield smtp


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """``logs()``: every record so far, as keel's JSON log lines; everything at DEBUG, SAQ
    included (at DEBUG SAQ puts each job's arguments in its INFO lines)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="saq")
    formatter = JsonFormatter()

    def text() -> str:
        return "\n".join(formatter.format(record) for record in caplog.records)

    return text


async def _stored_and_logged(keel: Keel, logs: Callable[[], str]) -> dict[str, bytes]:
    await keel.events.drain()
    return {
        "valkey keys": await valkey_values(keel),
        "valkey rdb": await rdb_file(keel),
        "logs": logs().encode(),
    }


async def _failed_job(env: Env) -> dict[str, Any]:
    job = await failed_mail_job(env.keel)
    assert job is not None, await mail_jobs(env.keel)
    return job


async def _register(env: Env) -> str:
    email = env.email("new")
    response = await env.client.post(
        "/api/auth/register", json={"name": "New User", "email": email, "password": PASSWORD}
    )
    assert response.status_code == 202, response.text
    return email


async def _forgot(env: Env, email: str) -> None:
    response = await env.client.post("/api/auth/forgot-password", json={"email": email})
    assert response.status_code == 202, response.text


async def test_sent_codes_and_reset_links_are_not_kept(env: Env, logs: Callable[[], str]) -> None:
    email = await _register(env)
    code = code_in(await env.mail_to(email))
    user = await env.user()
    await _forgot(env, user.email)
    reset = await env.mail_to(user.email, contains="Reset")
    token = reset_token_in(reset)
    url = env.keel.settings.auth.reset_url.replace("{token}", token)
    assert url in text_of(reset)

    places = await _stored_and_logged(env.keel, logs)

    assert occurrences(code, places) == []
    assert occurrences(token, places) == []
    for job in await mail_jobs(env.keel):
        assert job["function"] == "accounts.send_code", job
        assert set(job.get("kwargs", {})) == {"email", "purpose"}, job
        assert job.get("result") is True, job


@asynccontextmanager
async def _refused_env(make_env: Callable[..., Any], smtp: RefusingSmtp) -> AsyncIterator[Env]:
    overrides = {
        "mail.host": "127.0.0.1",
        "mail.port": smtp.port,
        "queue.retries": RETRIES,
        "queue.retry_delay_s": 0,
    }
    async with make_env(**overrides) as env:
        yield env


async def test_a_refused_code_mail_leaves_no_code_behind(
    make_env: Callable[..., Any], refusing_smtp: RefusingSmtp, logs: Callable[[], str]
) -> None:
    async with _refused_env(make_env, refusing_smtp) as env:
        email = await _register(env)
        await env.drain()

        codes = [code_in(message) for message in refusing_smtp.messages]
        places = await _stored_and_logged(env.keel, logs)
        job = await _failed_job(env)

        assert len(codes) == RETRIES, refusing_smtp.replies
        assert all(code in reply for code, reply in zip(codes, refusing_smtp.replies, strict=True))
        for code in codes:
            assert occurrences(code, places) == [], code
        # every attempt issued a fresh code, each replacing the one before
        assert len(set(codes)) == RETRIES, codes
        assert (job["function"], job["attempts"]) == ("accounts.send_code", RETRIES)
        lines = failure_lines(logs(), job["id"])
        assert lines, logs()
        assert all(email in line for line in lines), lines
        verify = "/api/auth/verify-otp"
        first = await env.client.post(verify, json={"email": email, "code": codes[0]})
        assert first.status_code == 401
        last = await env.client.post(verify, json={"email": email, "code": codes[-1]})
        assert last.status_code == 200, last.text


async def test_a_refused_reset_mail_leaves_no_token_behind(
    make_env: Callable[..., Any], refusing_smtp: RefusingSmtp, logs: Callable[[], str]
) -> None:
    async with _refused_env(make_env, refusing_smtp) as env:
        user = await env.user()
        await _forgot(env, user.email)
        await env.drain()

        tokens = reset_tokens(refusing_smtp)
        places = await _stored_and_logged(env.keel, logs)
        job = await _failed_job(env)

        assert len(tokens) == RETRIES, refusing_smtp.replies
        for token in tokens:
            assert occurrences(token, places) == [], token
        assert len(set(tokens)) == RETRIES, tokens
        lines = failure_lines(logs(), job["id"])
        assert lines, logs()
        assert all(user.email in line for line in lines), lines
        reset = "/api/auth/reset-password"
        body = {"password": "an entirely new passphrase"}
        first = await env.client.post(reset, json={"token": tokens[0], **body})
        assert first.status_code == 422
        last = await env.client.post(reset, json={"token": tokens[-1], **body})
        assert last.is_success, last.text


async def test_an_unreachable_mail_server_fails_the_code_job_without_a_code_in_it(
    make_env: Callable[..., Any], logs: Callable[[], str]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    overrides = {"mail.port": closed, "queue.retries": RETRIES, "queue.retry_delay_s": 0}
    async with make_env(**{"mail.host": "127.0.0.1", **overrides}) as env:
        email = await _register(env)
        await env.drain()
        job = await _failed_job(env)

    # the code never left the worker, so look for anything shaped like one
    assert (job["function"], job["attempts"]) == ("accounts.send_code", RETRIES)
    assert job["kwargs"] == {"email": email, "purpose": "verify"}
    assert "result" not in job
    # the address itself may hold six digits in a row (its ObjectId part): leave it out
    error_text = job["error"].replace(email, "<email>")
    assert re.findall(r"(?<![0-9])[0-9]{6}(?![0-9])", error_text) == [], job["error"]
    assert f"mail to {email} via 127.0.0.1:{closed} not sent: SMTPConnectError" in job["error"]
    lines = failure_lines(logs(), job["id"])
    assert len(lines) == RETRIES, logs()
    assert all(email in line and "accounts.send_code" in line for line in lines), lines


async def test_a_failed_mail_job_logs_its_id_and_recipient_not_its_body(
    make_env: Callable[..., Any], refusing_smtp: RefusingSmtp, logs: Callable[[], str]
) -> None:
    marker = f"body-{uuid.uuid4().hex}"
    async with _refused_env(make_env, refusing_smtp) as env:
        to = env.email("to")
        job = await env.keel.mail.send(
            to, "A notice", text=f"Your token: {marker}", html=f"<p>{marker}</p>"
        )
        assert job is not None
        await env.drain()
        stored = await env.keel.jobs.queue("email").job(job.key)

    assert stored is not None
    assert (stored.status, stored.attempts) == (Status.FAILED, RETRIES)
    assert marker in refusing_smtp.replies[0]  # the server quoted the body back
    assert stored.error is not None
    assert marker not in stored.error
    assert "554" in stored.error
    assert to in stored.error
    text = logs()
    assert marker not in text
    lines = failure_lines(text, job.id)
    assert len(lines) == RETRIES, text
    assert all(to in line and "core.send_mail" in line for line in lines), lines
