"""Riding out a Valkey blip on the token check: recent revocation readings, kept briefly.

Every authenticated request reads its token's revocation markers from Valkey
(:func:`plugins.accounts._revocation.access_problem`). When Valkey does not answer within
:data:`PROBE_TIMEOUT_S`, the token is judged on the markers this process read for the
same user and session at most ``[auth] revocation_stale_s`` ago (a warning in the log),
and for :data:`SUSPEND_S` such tokens do not wait for Valkey again; a token with no such
reading still asks Valkey, and is refused with 503 when it does not answer (fail closed).
With ``revocation_stale_s = 0`` every check fails closed. While Valkey answers, the
readings are never used: revocation still reaches every process at once.

The trade-off, stated in docs/auth.md: during an outage, a token revoked (logout, password
change, deletion) in the ``revocation_stale_s`` before this process's last good reading
can still pass on this process until Valkey answers again or the reading ages out. No
revocation can be *written* while Valkey is down (logout answers 503), so nothing revoked
during the outage is missed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from core.context import Keel
from core.stash import StashKey

PROBE_TIMEOUT_S = 0.5
"""Longest wait for the revocation markers before falling back to a recent reading."""
SUSPEND_S = 2.0
"""After a failed read, stop asking Valkey for this long (no per-request timeouts)."""
MAX_READINGS = 50_000
WARN_EVERY_S = 10.0
Markers = tuple[bytes | None, bytes | None, bytes | None]
"""What one ``MGET`` read: user epoch, session (family) cutoff, user-exists marker."""
log = logging.getLogger("plugins.accounts")


@dataclass
class Readings:
    """This process's recent marker readings by (user id, session), newest last."""

    entries: OrderedDict[tuple[str, str], tuple[float, Markers]] = field(
        default_factory=OrderedDict
    )
    suspended_until: float = 0.0
    warned_at: float = 0.0

    def suspended(self) -> bool:
        """Whether Valkey failed a moment ago (tokens with a recent reading skip it)."""
        return time.monotonic() < self.suspended_until

    def keep(self, key: tuple[str, str], markers: Markers) -> None:
        """Remember a good reading."""
        self.entries[key] = (time.monotonic(), markers)
        self.entries.move_to_end(key)
        while len(self.entries) > MAX_READINGS:
            self.entries.popitem(last=False)

    def failed(self, exc: BaseException) -> None:
        """Valkey did not answer: suspend asking it, and say so (at most every 10 s)."""
        now = time.monotonic()
        self.suspended_until = now + SUSPEND_S
        if now - self.warned_at > WARN_EVERY_S:
            self.warned_at = now
            log.warning(
                "accounts: valkey unreachable for token checks (%s: %s); judging tokens on "
                "readings of the last few seconds, refusing others with 503",
                type(exc).__name__,
                exc,
            )

    def recent(self, key: tuple[str, str], max_age_s: float) -> Markers | None:
        """The reading for ``key`` if at most ``max_age_s`` old."""
        found = self.entries.get(key)
        if found is None or time.monotonic() - found[0] > max_age_s:
            return None
        return found[1]


_READINGS = StashKey[Readings]("accounts.revocation_readings")


def readings(keel: Keel) -> Readings:
    """This process's :class:`Readings`."""
    return keel.stash.get_or_create(_READINGS, Readings)
