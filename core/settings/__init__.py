"""Typed settings: ``config.toml`` + ``KEEL_<SECTION>__<KEY>`` environment overrides."""

from core.settings._load import CONFIG_ENV, config_path, load_settings
from core.settings._metrics import MetricsSettings
from core.settings._types import (
    AppSettings,
    AuthSettings,
    DatabaseSettings,
    DevstackSettings,
    EventsSettings,
    MailSettings,
    PluginsSettings,
    QueueSettings,
    RateLimitSettings,
    ScheduleOverride,
    SchedulerSettings,
    ServerSettings,
    Settings,
    TogglesSettings,
    UploadsSettings,
    ValkeySettings,
)
from core.settings._urls import public_link, public_url, redis_url

__all__ = [
    "CONFIG_ENV",
    "AppSettings",
    "AuthSettings",
    "DatabaseSettings",
    "DevstackSettings",
    "EventsSettings",
    "MailSettings",
    "MetricsSettings",
    "PluginsSettings",
    "QueueSettings",
    "RateLimitSettings",
    "ScheduleOverride",
    "SchedulerSettings",
    "ServerSettings",
    "Settings",
    "TogglesSettings",
    "UploadsSettings",
    "ValkeySettings",
    "config_path",
    "load_settings",
    "public_link",
    "public_url",
    "redis_url",
]
