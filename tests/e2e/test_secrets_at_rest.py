"""A reset link refused by the mail server, sent by a real ``keel worker`` process.

The API (in this process) takes ``forgot-password``; a ``keel worker`` process, logging
at DEBUG to its own JSON log file (``app.log_dir``), runs the mail job against an SMTP
server that takes each message and refuses it, quoting its content. The tokens that
server saw must appear nowhere: not in the worker's log file or output, not in any value
of the test's Valkey keys, not in an RDB file written by ``SAVE``. The log file names the
failed job and its recipient on each attempt.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _keel_procs import KeelProcess, write_config

from core.context import Keel
from core.devstack import DevStack
from core.testing import AppFactory, SettingsFactory
from tests.plugins.accounts._at_rest import (
    RefusingSmtp,
    failed_mail_job,
    failure_lines,
    occurrences,
    rdb_file,
    refusing_smtp_server,
    reset_tokens,
    valkey_values,
)

pytestmark = pytest.mark.e2e

RETRIES = 3


@pytest.fixture
async def refusing_smtp() -> AsyncIterator[RefusingSmtp]:
    """An SMTP server that refuses every message, quoting it."""
    async with refusing_smtp_server() as smtp:
        yield smtp


def _worker_env(
    tmp_path: Path, stack: DevStack, factory: SettingsFactory, smtp: RefusingSmtp
) -> dict[str, str]:
    """A ``keel worker`` environment on this test's data, mail going to ``smtp``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEEL_")},
        **stack.environ(),
        "KEEL_CONFIG": str(write_config(tmp_path / "config.toml", enabled=[])),
        "KEEL_DATABASE__NAME": factory.database_name,
        "KEEL_VALKEY__KEY_PREFIX": factory.key_prefix,
        "KEEL_MAIL__HOST": "127.0.0.1",
        "KEEL_MAIL__PORT": str(smtp.port),
        "KEEL_QUEUE__RETRIES": str(RETRIES),
        "KEEL_QUEUE__RETRY_DELAY_S": "0",
        "KEEL_APP__LOG_DIR": str(tmp_path / "logs"),
        "KEEL_APP__LOG_LEVEL": "DEBUG",
    }


async def _wait_failed(keel: Keel, worker: KeelProcess, within_s: float = 30.0) -> dict[str, Any]:
    """The email queue's failed job, once the worker has given it up."""
    deadline = time.monotonic() + within_s
    while (job := await failed_mail_job(keel)) is None:
        worker.check_alive()
        assert time.monotonic() < deadline, worker.output()[-4000:]
        await asyncio.sleep(0.1)  # the refusing SMTP server runs on this loop
    return job


async def test_a_worker_process_keeps_refused_reset_tokens_out_of_logs_and_valkey(
    tmp_path: Path,
    keel_stack: DevStack,
    keel_settings_factory: SettingsFactory,
    keel_app_factory: AppFactory,
    refusing_smtp: RefusingSmtp,
) -> None:
    env = _worker_env(tmp_path, keel_stack, keel_settings_factory, refusing_smtp)
    worker = KeelProcess("worker", ["worker", "--no-scheduler"], env, tmp_path / "worker.out")
    # a job's retries and delays are fixed when it is enqueued, here by the API
    queue = {"queue.retries": RETRIES, "queue.retry_delay_s": 0}
    async with keel_app_factory(plugins=[], overrides=queue) as app:
        user = await app.user()
        response = await app.client.post("/api/auth/forgot-password", json={"email": user.email})
        assert response.status_code == 202, response.text
        worker.start()
        try:
            job = await _wait_failed(app.keel, worker)
            worker.send(signal.SIGTERM)
            code, _ = worker.wait(20)
        finally:
            worker.kill()
        pid = worker.proc.pid if worker.proc else 0  # the worker's own file
        log_file = (tmp_path / "logs" / f"keel-worker-{pid}.log").read_text(encoding="utf-8")
        places = {
            "log file": log_file.encode(),
            "worker output": worker.output().encode(),
            "valkey keys": await valkey_values(app.keel),
            "valkey rdb": await rdb_file(app.keel),
        }

    assert code == 0, worker.output()[-4000:]
    tokens = reset_tokens(refusing_smtp)
    assert len(tokens) == RETRIES, refusing_smtp.replies
    assert all(token in reply for token, reply in zip(tokens, refusing_smtp.replies, strict=True))
    for token in tokens:
        assert occurrences(token, places) == [], token
    assert len(set(tokens)) == RETRIES, tokens  # each retry issued a fresh token
    assert job["function"] == "accounts.send_code"
    lines = failure_lines(log_file, job["id"])
    assert len(lines) == RETRIES, log_file[-4000:]
    assert all(user.email in line for line in lines), lines
