"""The typed settings tree decoded from ``config.toml``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from core.settings._metrics import MetricsSettings


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every settings table: frozen, unknown keys rejected."""


class AppSettings(_Section, frozen=True, kw_only=True):
    name: str = "keel"
    """Service name, shown in logs, health and the OpenAPI title."""
    env: Literal["development", "test", "production"] = "development"
    """Deployment environment; ``development`` enables dev-only pages and readable logs."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Root log level."""
    log_format: Literal["auto", "json", "console"] = "auto"
    """``auto`` is JSON in production and readable elsewhere."""
    log_dir: str = ""
    """When set, each process also writes JSON lines to a file of its own in this directory,
    ``<name>-<role>-<pid>.log`` (role ``serve``, ``worker`` or ``run``)."""
    log_max_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 10 * 1024 * 1024
    """A process's log file is rotated (renamed ``.1``, ``.2``...) once it would pass this size."""
    log_backups: Annotated[int, msgspec.Meta(ge=0)] = 5
    """Rotated copies kept per process log file; older ones are deleted at rotation."""
    access_log: bool = True
    """Log one line per HTTP request."""
    public_url: str = ""
    """Where users reach the service (``https://market.example.com``, no trailing path):
    the base of every absolute link in emails. Empty: ``http://127.0.0.1:<[server] port>``,
    right only for ``keel run`` on this machine; set it in production."""


class RateLimitSettings(_Section, frozen=True, kw_only=True):
    enabled: bool = True
    """Apply rate limits (shared by every process through Valkey)."""
    default_per_minute: int = msgspec.field(default=600)
    """Requests per minute per client IP on routes without their own limit."""


class ServerSettings(_Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    """Interface the API binds to."""
    port: int = 8000
    """Port the API listens on."""
    workers: int = 1
    """API worker processes for ``keel serve``."""
    max_body_bytes: int = 1_048_576
    """Largest accepted request body (uploads have their own limit)."""
    cors_origins: list[str] = msgspec.field(default_factory=list)
    """Origins allowed by CORS; empty disables CORS headers."""
    grace_period_s: float = 30.0
    """Time allowed for in-flight requests and jobs on shutdown."""
    ws_per_message_deflate: bool = False
    """Accept WebSocket compression (permessage-deflate) when a client offers it.

    Off by default, as in Socket.IO: realtime frames are small, and compression would
    cost every connection a zlib state (tens of KB) and every frame a deflate.
    """
    ws_max_bytes: Annotated[int, msgspec.Meta(ge=1)] = 65_536
    """Largest WebSocket message the server accepts (uvicorn's ``ws_max_size``): a bigger
    one closes the socket with 1009 as soon as its header arrives, before it is buffered.
    Plugins may set lower limits of their own, not higher."""
    trusted_proxies: list[
        Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$")]
    ] = msgspec.field(default_factory=lambda: ["127.0.0.1"])
    """Addresses (or CIDR networks) of the reverse proxies in front of keel: only a
    connection from one of them may name the client's IP in ``X-Forwarded-For``. Failed
    logins, rate limits and the session list count by that IP, so list your proxies
    exactly; empty trusts no header (every client is the connection's peer)."""
    rate_limit: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    """Rate limiting."""


class DatabaseSettings(_Section, frozen=True, kw_only=True):
    url: str = ""
    """MongoDB URL; empty starts the embedded SecantusDB (``keel run``)."""
    name: str = "keel"
    """Database name."""
    timeout_ms: int = 2000
    """Server selection and socket timeout; past it a request answers 503."""


class ValkeySettings(_Section, frozen=True, kw_only=True):
    url: str = ""
    """Valkey URL; empty starts the embedded valkey-server (``keel run``)."""
    key_prefix: str = "keel"
    """Prefix of every key keel writes."""
    timeout_s: float = 2.0
    """Connect and command timeout; past it a request answers 503."""
    sentinels: list[
        Annotated[str, msgspec.Meta(pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):[0-9]{1,5}$")]
    ] = msgspec.field(default_factory=list)
    """Valkey Sentinels (``host:port``) watching the primary called ``master_name``; empty
    connects to ``url`` directly. When set, every connection asks them where the primary
    is (again after a failover), and ``url`` gives only the scheme (``valkeys://``: TLS),
    the username, password and database; its host and port are not used. As JSON in the
    environment: ``KEEL_VALKEY__SENTINELS='["s1:26379","s2:26379"]'``."""
    master_name: Annotated[str, msgspec.Meta(min_length=1)] = "mymaster"
    """The name the Sentinels monitor the primary under (``sentinel monitor <name> ...``)."""
    sentinel_password: str = ""
    """Password of the Sentinels themselves (their ``requirepass``); empty: none."""


class QueueSettings(_Section, frozen=True, kw_only=True):
    names: list[str] = msgspec.field(
        default_factory=lambda: ["default", "email", "image", "notifications", "reports"]
    )
    """Named SAQ queues; every job and durable listener runs on one of them."""
    concurrency: int = 10
    """Jobs run at once per queue per worker process."""
    retries: int = 5
    """Attempts in all for a job (SAQ's own default is 1, i.e. no retry)."""
    retry_delay_s: float = 1.0
    """First retry delay; doubled each attempt."""
    retry_max_delay_s: float = 0.0
    """Cap of the (doubling, jittered) retry delay; 0 = no cap."""
    timeout_s: int = 60
    """Default job timeout."""
    heartbeat_s: int = 10
    """Workers beat each running job's heartbeat every third of this; a job not heard from
    this long (its worker died or stalled) is aborted and retried on another worker, and
    abandoned jobs are looked for every half of it. 0 = off: a dead worker's job waits
    for its timeout plus SAQ's 60 s sweep."""


class ScheduleOverride(_Section, frozen=True, kw_only=True):
    cron: str = ""
    """Replacement croniter expression; empty keeps the plugin's own."""
    enabled: bool = True
    """False switches the schedule off."""


class SchedulerSettings(_Section, frozen=True, kw_only=True):
    enabled: bool = True
    """Run the scheduler in worker processes (``keel run`` and ``keel worker``)."""
    overrides: dict[str, ScheduleOverride] = msgspec.field(default_factory=dict)
    """Per schedule (full name ``<plugin>.<name>``): cron or on/off."""


class EventsSettings(_Section, frozen=True, kw_only=True):
    relay: bool = True
    """Run the outbox relay in worker processes (``keel run`` and ``keel worker``); one
    of them relays at a time (a lease in MongoDB), the others stand by."""
    relay_poll_ms: Annotated[int, msgspec.Meta(ge=5, le=5000)] = 20
    """How often the active relay looks for new outbox entries when idle."""
    relay_batch: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 200
    """Outbox entries the relay moves to the queues per round."""
    lease_s: Annotated[float, msgspec.Meta(ge=1, le=300)] = 5.0
    """The relay's lease: a relay silent this long is replaced by a standby one."""
    retention_days: Annotated[float, msgspec.Meta(gt=0)] = 7.0
    """Relayed outbox entries older than this are deleted (``keel events replay`` reaches
    back this far)."""
    order_wait_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0
    """A durable delivery waits up to this long for the same listener's delivery of the
    previous event of the same aggregate (order per aggregate), then runs anyway."""


class TogglesSettings(_Section, frozen=True, kw_only=True):
    refresh_s: Annotated[float, msgspec.Meta(ge=0.2, le=60)] = 2.0
    """Every process re-reads the switchboard this often, so one that missed a change's
    announcement (Valkey pub/sub) still follows it within this long."""


class MailSettings(_Section, frozen=True, kw_only=True):
    host: str = ""
    """SMTP host; empty uses the embedded sink under ``var/mail`` in development."""
    port: int = 25
    """SMTP port."""
    username: str = ""
    """SMTP user."""
    password: str = ""
    """SMTP password (from the environment: ``KEEL_MAIL__PASSWORD``)."""
    starttls: bool = False
    """Upgrade the connection with STARTTLS."""
    sender: str = "keel <no-reply@keel.localhost>"
    """The From address."""


class AuthSettings(_Section, frozen=True, kw_only=True):
    jwt_secret: str = ""
    """HMAC key of access tokens (``KEEL_AUTH__JWT_SECRET``; 32+ bytes for HS256, 48/64 for
    HS384/HS512). OTP and token hashes use keys derived from it.

    Required by every process (``keel serve`` and ``keel worker`` refuse to start without
    it); ``keel run`` makes a random one under ``[devstack] data_dir`` when it is empty.
    """
    jwt_previous_secrets: list[str] = msgspec.field(default_factory=list)
    """Earlier keys, still accepted when verifying (rotation): tokens name their key
    (``kid``), new tokens are signed with ``jwt_secret`` only. As JSON in the environment:
    ``KEEL_AUTH__JWT_PREVIOUS_SECRETS='["..."]'``; drop a key once ``access_ttl_s`` (and,
    for refresh and reset tokens, ``refresh_ttl_s``) has passed since it was replaced."""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    """Signing algorithm; the only one accepted when verifying."""
    jwt_issuer: str = "keel"
    """``iss`` claim written and required."""
    jwt_audience: str = "keel-api"
    """``aud`` claim written and required."""
    access_ttl_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 900
    """Lifetime of an access token (default 15 minutes)."""
    refresh_ttl_s: Annotated[int, msgspec.Meta(ge=300)] = 30 * 86_400
    """Lifetime of a refresh token (each use rotates it)."""
    clock_leeway_s: Annotated[int, msgspec.Meta(ge=0, le=300)] = 5
    """Clock skew tolerated on ``exp`` and ``nbf``."""
    argon2_memory_kib: Annotated[int, msgspec.Meta(ge=19_456)] = 19_456
    """argon2id memory cost in KiB; OWASP's minimum (19 MiB) is the floor."""
    argon2_time_cost: Annotated[int, msgspec.Meta(ge=2)] = 2
    """argon2id iterations; OWASP's minimum (2) is the floor."""
    argon2_parallelism: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    """argon2id lanes."""
    password_min_length: Annotated[int, msgspec.Meta(ge=8, le=128)] = 8
    """Shortest accepted password (8 is the floor)."""
    login_otp: Literal["unverified", "always"] = "unverified"
    """When login asks for an emailed code: only for unverified emails, or always."""
    otp_ttl_s: Annotated[int, msgspec.Meta(ge=60, le=3600)] = 600
    """Validity of an emailed one-time code."""
    otp_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 5
    """Wrong codes after which a code is dead."""
    otp_resend_interval_s: Annotated[int, msgspec.Meta(ge=0)] = 60
    """Minimum time between two codes (or reset emails) asked for one email address."""
    reset_ttl_s: Annotated[int, msgspec.Meta(ge=300, le=86_400)] = 1800
    """Validity of a password-reset token (default 30 minutes)."""
    reset_url: str = "/reset-password?token={token}"
    """Link put in reset emails; ``{token}`` is replaced by the token. A path is joined to
    ``[app] public_url``; an absolute ``https://...`` URL (a client app elsewhere) is used
    as it is."""
    login_free_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    """Failed logins for one account from one client IP before each further try waits."""
    login_delay_s: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 1.0
    """The first wait; it doubles with every further failure of that account and IP."""
    login_max_delay_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900
    """The longest wait between two tries for one account from one IP."""
    login_max_failures_ip: Annotated[int, msgspec.Meta(ge=1)] = 50
    """Failed logins from one client IP (any account) within ``login_window_s`` before
    that IP is refused."""
    login_window_s: Annotated[int, msgspec.Meta(ge=1)] = 900
    """How long failures are remembered (a success from that IP forgets its account's)."""
    revocation_stale_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 30.0
    """While Valkey is unreachable, a token whose revocation markers this process read
    at most this long ago is judged on that reading (a logged warning) instead of a 503;
    0 fails closed. The price: a revocation in the last seconds before an outage may be
    missed by this process for that long (see docs/auth.md)."""
    otp_daily_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    """Wrong codes per account per day, across resends, after which codes stop working
    until the password is reset (or the day is over)."""


class UploadsSettings(_Section, frozen=True, kw_only=True):
    dir: str = "./var/uploads"
    """Directory of the local storage backend (created on first upload)."""
    max_file_bytes: Annotated[int, msgspec.Meta(ge=1)] = 10 * 1_048_576
    """Largest accepted file; a bigger one is refused with 413 while it streams in."""
    max_files: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    """Most files in one ``POST /api/uploads/multiple``."""
    allowed_types: list[
        Literal[
            "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "text/plain"
        ]
    ] = msgspec.field(
        default_factory=lambda: [
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
        ]
    )
    """Content types accepted, as sniffed from the bytes (the header is never trusted)."""
    public_content: bool = True
    """Anyone may read ``/content`` and ``/thumbnail`` by id (ids are 96 random bits);
    false restricts them to the owner and admins."""
    thumbnail_px: Annotated[int, msgspec.Meta(ge=16, le=2048)] = 256
    """Longest side of image thumbnails."""
    max_image_pixels: Annotated[int, msgspec.Meta(ge=1)] = 16_000_000
    """Images with more pixels get no thumbnail (decompression-bomb guard), judged from
    the header before any pixel is decoded; 16 million is a 4000x4000 photo, whose
    decoding takes about 64 MB of memory."""
    thumbnail_timeout_s: Annotated[int, msgspec.Meta(ge=1, le=600)] = 30
    """A thumbnail job running longer is aborted (the upload keeps no thumbnail)."""
    max_files_per_user: Annotated[int, msgspec.Meta(ge=1)] = 1000
    """Most uploads one user may keep; one more is refused with 413 until some are
    deleted."""
    max_bytes_per_user: Annotated[int, msgspec.Meta(ge=1)] = 1024 * 1_048_576
    """Most bytes one user's uploads may take together (1 GiB); an upload that would
    pass it is refused with 413. Thumbnails are not counted."""


class DevstackSettings(_Section, frozen=True, kw_only=True):
    data_dir: str = "./var"
    """Where embedded services keep their data."""


class PluginsSettings(_Section, frozen=True, kw_only=True):
    enabled: list[str] = msgspec.field(default_factory=list)
    """Plugins to load; when absent from the file every installed plugin is enabled.
    Essential plugins (``accounts``, ``uploads``) load without being listed."""
    disabled: list[str] = msgspec.field(default_factory=list)
    """Essential plugins to switch off (``uploads``); ``accounts`` is always on."""
    standby: list[str] = msgspec.field(default_factory=list)
    """Installed plugins loaded and validated at startup but off, so that an operator can
    switch them on live (``keel toggles set <name> on``); see docs/toggles.md. A plugin
    in neither ``enabled`` nor ``standby`` is not loaded: switching it on needs a restart."""
    tables: dict[str, Any] = msgspec.field(default_factory=dict)
    """Each enabled or configured plugin's decoded ``[plugins.<name>]`` table."""

    def get(self, name: str) -> Any:
        """The decoded settings of plugin ``name``."""
        return self.tables[name]


class Settings(_Section, frozen=True, kw_only=True):
    """The whole configuration."""

    app: AppSettings = msgspec.field(default_factory=AppSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    valkey: ValkeySettings = msgspec.field(default_factory=ValkeySettings)
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    scheduler: SchedulerSettings = msgspec.field(default_factory=SchedulerSettings)
    events: EventsSettings = msgspec.field(default_factory=EventsSettings)
    toggles: TogglesSettings = msgspec.field(default_factory=TogglesSettings)
    mail: MailSettings = msgspec.field(default_factory=MailSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    uploads: UploadsSettings = msgspec.field(default_factory=UploadsSettings)
    devstack: DevstackSettings = msgspec.field(default_factory=DevstackSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    plugins: PluginsSettings = msgspec.field(default_factory=PluginsSettings)
