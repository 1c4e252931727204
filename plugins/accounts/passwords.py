"""Password hashing (argon2id, off the event loop) and the password policy."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import UnprocessableError
from core.settings import AuthSettings

MAX_PASSWORD_LENGTH = 256
"""Longest accepted password (argon2 takes any length; this caps the request size)."""
MAX_HASH_THREADS = 4
"""Most threads of a process that run argon2 (fewer on a host with fewer cores)."""
T = TypeVar("T")


def hash_threads() -> int:
    """Threads that run argon2 in this process: one per core, at most
    :data:`MAX_HASH_THREADS` (each hash keeps one core busy: more would not go faster)."""
    return min(MAX_HASH_THREADS, os.cpu_count() or 1)


@functools.cache
def _pool(_pid: int) -> ThreadPoolExecutor:
    """The process's argon2 threads (keyed by pid: a forked child makes its own).

    Not the event loop's default executor: glibc keeps each thread's freed argon2 block
    (``argon2_memory_kib``, 19 MiB by default) in that thread's malloc arena, so every
    thread that ever hashed holds one for good. The default executor has up to
    ``cpu_count + 4`` threads (6 on 2 cores, 20 on 16), which a burst of logins would
    each leave holding a block; these few threads bound that memory (and a login burst
    no longer occupies the threads the rest of the process uses for ``to_thread``).
    """
    return ThreadPoolExecutor(hash_threads(), thread_name_prefix="argon2")


async def _in_pool(call: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool(os.getpid()), call, *args)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords (lower-cased)."""
    text = resources.files("plugins.accounts").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_policy(
    password: str, settings: AuthSettings, *, email: str = "", field: str = "password"
) -> None:
    """Reject a password that is too short, too long, too common or equal to the email.

    Args:
        password: the candidate password.
        settings: the password rules.
        email: the account's address, which the password must not equal.
        field: the request field (its wire name) that ``details`` names.

    Raises:
        UnprocessableError: with ``details`` naming ``field`` and the rule (422: the
            request fits the schema, the password policy refuses it).
    """
    problem = ""
    if len(password) < settings.password_min_length:
        problem = f"must be at least {settings.password_min_length} characters long"
    elif len(password) > MAX_PASSWORD_LENGTH:
        problem = f"must be at most {MAX_PASSWORD_LENGTH} characters long"
    elif password.lower() in common_passwords():
        problem = "is one of the most common passwords; choose another"
    elif email and password.casefold() == email.casefold():
        problem = "must not be your email address"
    if problem:
        raise UnprocessableError(
            f"{field} {problem}",
            details=[{"field": field, "message": problem}],
        )


class PasswordHasher:
    """argon2id hashing with the configured parameters, run in the process's argon2 threads.

    argon2 takes tens of milliseconds of CPU on purpose; running it in a thread keeps
    the event loop serving other requests meanwhile. At most :func:`hash_threads` hashes
    run at once per process (the rest wait their turn), so a process holds at most that
    many times ``argon2_memory_kib`` for hashing, however many logins arrive together.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None

    @property
    def parameters(self) -> str:
        """The parameters, for reports: ``argon2id m=19456 KiB t=2 p=1``."""
        h = self._hasher
        return f"argon2id m={h.memory_cost} KiB t={h.time_cost} p={h.parallelism}"

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password``."""
        return await _in_pool(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``.

        With ``stored=None`` (unknown user) the password is checked against a dummy hash
        of the same cost, so the answer takes as long as for a real user.
        """
        if stored is None:
            await _in_pool(self._verify, await self._dummy_hash(), password)
            return False
        return await _in_pool(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with weaker (or other) parameters than configured."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy
