"""Settings read from the environment, in one place: one typed object per process.

Every value has a development default except where noted; with
``APP_ENV=production`` each service's own secrets must be set explicitly.
``current()`` is what a running process uses: read once, and ``python -m
services.serve`` reads it before it starts a service, so a bad value stops the
service at boot with one line, not at the first visitor. docs/settings.md
lists every variable.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CONTACT = "请在对话中留下称呼和手机号，或在工作日 9:00–18:00 联系寅森企服在线客服，顾问会尽快与您联系"


# Which secrets (and settings holding one) each service gets: the one table. The launcher hands each
# service only its own, so a service that is broken into leaks only those (least privilege); in production
# those of SECRETS among them must be set. ASSISTANT_SERVICE names the service (``python -m services.serve``
# sets it); a process that is no service (the launcher, the console CLI) needs all of SECRETS.
SERVICE_SECRETS = {
    "rasa": (
        "RASA_AUTH_TOKEN",
        "ACTION_SERVER_TOKEN",
        "WIDGET_SECRET",
        "WECHAT_TOKEN",
        "WECHAT_APP_SECRET",
        "WECHAT_AES_KEY",
        "WECOM_KF_SECRET",
        "WECOM_KF_TOKEN",
        "WECOM_KF_AES_KEY",
    ),
    "actions": ("ACTION_SERVER_TOKEN",),
    "web": ("RASA_AUTH_TOKEN", "WIDGET_SECRET", "CONSOLE_SECRET"),
    # the robot's key is in the URL; only the notifier knows where notifications go
    "notifier": ("RASA_AUTH_TOKEN", "SMTP_PASSWORD", "WECOM_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL"),
    "facts": (),
}
# the secrets every deployment has (the others in the table belong to channels it may leave out)
SECRETS = ("RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "WIDGET_SECRET", "CONSOLE_SECRET")
# every variable of the table: the launcher passes none of them on unless the service is listed for it
PRIVATE = tuple(sorted({name for names in SERVICE_SECRETS.values() for name in names}))
# where a development run keeps the secrets it made (the widget's and the console's): var/ of the checkout
DEVELOPMENT_SECRETS = PROJECT_ROOT / "var"


def development_secret(name: str) -> str:
    """The secret ``name`` of this checkout (var/<name>.secret), made on first use, so sessions survive
    restarts in development and Rasa, the web app and the launcher agree on it."""
    path = DEVELOPMENT_SECRETS / f"{name}.secret"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # written private (0600 from the first byte) under a temporary name, then linked into place:
        # no moment at which another user could read it, nor one at which it is there but empty
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
            os.link(draft, path)
        except FileExistsError:
            pass  # another process starting at the same moment made it first: use theirs
        finally:
            draft.unlink()
    return path.read_text().strip()


MIN_SECRET = 32
# what people type when asked for a secret: refused in production whatever their length
PLACEHOLDERS = ("change", "example", "placeholder", "replace", "secret", "password", "default", "xxxx")


def weak_secret(value: str) -> bool:
    """Whether a secret is guessable: short, few distinct characters, or a placeholder (S5).

    A guessed CONSOLE_SECRET signs an admin cookie, a guessed WIDGET_SECRET opens any widget conversation.
    """
    lowered = value.lower()
    return len(value) < MIN_SECRET or len(set(value)) < 10 or any(word in lowered for word in PLACEHOLDERS)


class SettingsError(RuntimeError):
    """A required setting is missing or invalid."""


def _sqlite_url(name: str) -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / name}"


@dataclass(frozen=True)
class Notifiers:
    """Where the notifier sends lead notifications (only the notifier reads these)."""

    wecom_webhook_url: str = ""
    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 0  # 0: 465 with SMTP_SSL, else 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "assistant@localhost"
    email_to: str = ""
    smtp_ssl: bool = False
    smtp_starttls: bool = True
    smtp_ca_file: str = ""
    interval: float = 2.0

    @property
    def channels(self) -> list[str]:
        """The configured notifiers, in delivery order."""
        names = []
        if self.wecom_webhook_url:
            names.append("wecom")
        if self.smtp_host and self.email_to:
            names.append("email")
        if self.webhook_url:
            names.append("webhook")
        return names


@dataclass(frozen=True)
class WeChat:
    """The WeChat Official Account channel (read by Rasa's WeChat input channel)."""

    token: str = ""
    app_id: str = ""
    app_secret: str = ""
    aes_key: str = ""
    api_base: str = "https://api.weixin.qq.com/cgi-bin/"
    reply_timeout: float = 4.0


@dataclass(frozen=True)
class WeComKF:
    """The 微信客服 (WeCom KF) channel (read by Rasa's wecom_kf input channel and ``python -m tools.kf``)."""

    corp_id: str = ""
    secret: str = ""
    token: str = ""
    aes_key: str = ""
    api_base: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    # where 「转人工」 waits when no WeCom servicer is receiving: the console's handoff desk (the session stays
    # with the assistant, so staff can answer from the console) or WeCom's own queue (state 2, WeCom app only)
    queue: str = "console"

    @property
    def enabled(self) -> bool:
        return bool(self.corp_id and self.secret and self.token and self.aes_key)


@dataclass(frozen=True)
class Settings:
    app_env: str
    database_url: str
    tracker_store_url: str
    rasa_port: int
    action_port: int
    rasa_auth_token: str
    consultant_contact: str
    cors_origins: tuple[str, ...]
    web_port: int
    web_host: str
    widget_secret: str
    console_secret: str
    rasa_url: str
    rasa_public_url: str
    business_hours: tuple[int, int]
    business_days: tuple[int, ...]
    handoff_claim_timeout: int
    answer_min_confidence: float
    answer_min_margin: float
    redis_url: str = ""
    rate_limit_sender: int = 20
    rate_limit_ip: int = 120
    max_message_chars: int = 1000
    proxy_count: int = 0
    action_host: str = "127.0.0.1"
    action_server_token: str = ""
    action_max_body: int = 1024 * 1024
    rasa_max_body: int = 300 * 1024
    action_endpoint_url: str = ""  # where Rasa calls the action server (endpoints.yml)
    rasa_model: str = ""
    sanic_workers: int = 1
    console_public_url: str = ""
    notify_max_per_hour: int = 60
    handoff_max_queued: int = 20
    handoff_max_per_minute: int = 10
    handoff_max_per_address: int = 2
    notifiers: Notifiers = Notifiers()
    wechat: WeChat = WeChat()
    wecom_kf: WeComKF = WeComKF()

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    def staff_on_duty(self, now: dt.datetime) -> bool:
        """Whether ``now`` (aware) falls in business hours, China time."""
        local = now.astimezone(dt.timezone(dt.timedelta(hours=8)))
        start, end = self.business_hours
        return local.isoweekday() in self.business_days and start <= local.hour < end


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name} must be between 1 and 65535, got {port}")
    return port


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0 <= value <= 1:
        raise SettingsError(f"{name} must be between 0 and 1, got {value}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {value}")
    return value


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    value = _count(env, name, default)
    if value < 1024:
        raise SettingsError(f"{name} is a size in bytes and must be at least 1024, got {value}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be above 0, got {value}")
    return value


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0 (on or off), got {raw!r}")


def _notifiers(env: Mapping[str, str]) -> Notifiers:
    notifiers = Notifiers(
        wecom_webhook_url=env.get("WECOM_WEBHOOK_URL", ""),
        webhook_url=env.get("NOTIFY_WEBHOOK_URL", ""),
        smtp_host=env.get("SMTP_HOST", ""),
        smtp_port=_port(env, "SMTP_PORT", 465) if env.get("SMTP_PORT") else 0,
        smtp_user=env.get("SMTP_USER", ""),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        smtp_from=env.get("SMTP_FROM") or "assistant@localhost",
        email_to=env.get("NOTIFY_EMAIL_TO", ""),
        smtp_ssl=_switch(env, "SMTP_SSL", False),
        smtp_starttls=_switch(env, "SMTP_STARTTLS", True),
        smtp_ca_file=env.get("SMTP_CA_FILE", ""),
        interval=_number(env, "NOTIFY_INTERVAL", 2.0),
    )
    if notifiers.smtp_user and not (notifiers.smtp_ssl or notifiers.smtp_starttls):
        raise SettingsError("SMTP_USER needs TLS: set SMTP_SSL=1 or leave SMTP_STARTTLS on")
    return notifiers


def _wechat(env: Mapping[str, str]) -> WeChat:
    return WeChat(
        token=env.get("WECHAT_TOKEN", ""),
        app_id=env.get("WECHAT_APP_ID", ""),
        app_secret=env.get("WECHAT_APP_SECRET", ""),
        aes_key=env.get("WECHAT_AES_KEY", ""),
        api_base=env.get("WECHAT_API_BASE") or WeChat.api_base,
        reply_timeout=_number(env, "WECHAT_REPLY_TIMEOUT", 4.0),
    )


KF_NAMES = ("WECOM_KF_CORP_ID", "WECOM_KF_SECRET", "WECOM_KF_TOKEN", "WECOM_KF_AES_KEY")
KF_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")  # WeCom's own rule for a callback Token
KF_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")  # EncodingAESKey: 43 characters, base64 of 32 bytes without "="
KF_CORP_ID = re.compile(r"[A-Za-z0-9_-]{4,64}")


def _wecom_kf(env: Mapping[str, str], service: str) -> WeComKF:
    """The KF channel's settings: all four credentials or none (the channel is then off).

    Only Rasa (and a process that is no service: the launcher, ``python -m tools.kf``) runs the channel; the
    other services get no KF secrets from the launcher and need none.
    """
    if service not in ("", "rasa"):
        return WeComKF()
    values = {name: (env.get(name) or "").strip() for name in KF_NAMES}
    given = [name for name, value in values.items() if value]
    if given and len(given) < len(KF_NAMES):
        missing = ", ".join(name for name in KF_NAMES if name not in given)
        raise SettingsError(f"the WeCom KF channel needs all of {', '.join(KF_NAMES)}: {missing} missing")
    if given:
        if not KF_TOKEN.fullmatch(values["WECOM_KF_TOKEN"]):
            raise SettingsError("WECOM_KF_TOKEN must be 3 to 32 letters or digits (the callback Token WeCom shows)")
        if not KF_AES_KEY.fullmatch(values["WECOM_KF_AES_KEY"]):
            raise SettingsError("WECOM_KF_AES_KEY must be the 43 letters and digits of the callback EncodingAESKey")
        if not KF_CORP_ID.fullmatch(values["WECOM_KF_CORP_ID"]):
            raise SettingsError("WECOM_KF_CORP_ID must be the corp id (企业ID), letters and digits")
    api_base = env.get("WECOM_KF_API_BASE") or WeComKF.api_base
    if not re.fullmatch(r"https?://[^\s/?#]+/(?:[^\s?#]*/)?", api_base):
        raise SettingsError(f"WECOM_KF_API_BASE must be an http(s) URL ending in /, got {api_base!r}")
    queue = (env.get("WECOM_KF_QUEUE") or "console").strip().lower()
    if queue not in ("console", "wecom"):
        raise SettingsError(f"WECOM_KF_QUEUE must be console or wecom, got {queue!r}")
    return WeComKF(
        corp_id=values["WECOM_KF_CORP_ID"],
        secret=values["WECOM_KF_SECRET"],
        token=values["WECOM_KF_TOKEN"],
        aes_key=values["WECOM_KF_AES_KEY"],
        api_base=api_base,
        queue=queue,
    )


def _hours(raw: str) -> tuple[int, int]:
    try:
        start, end = (int(part) for part in raw.split("-"))
    except ValueError:
        raise SettingsError(f"BUSINESS_HOURS must look like 9-18, got {raw!r}") from None
    if not 0 <= start < end <= 24:
        raise SettingsError(f"BUSINESS_HOURS must be within 0-24 with start < end, got {raw!r}")
    return start, end


def _days(raw: str) -> tuple[int, ...]:
    try:
        days = tuple(int(d) for d in raw.split(",") if d.strip())
    except ValueError:
        raise SettingsError(f"BUSINESS_DAYS must list weekdays 1-7 like 1,2,3,4,5, got {raw!r}") from None
    if any(not 1 <= d <= 7 for d in days):  # none at all: no staff hours (every handoff gets the lead form)
        raise SettingsError(f"BUSINESS_DAYS must list weekdays 1-7 like 1,2,3,4,5, got {raw!r}")
    return days


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    app_env = env.get("APP_ENV", "development")
    if app_env not in ("development", "production", "test"):
        raise SettingsError(f"APP_ENV must be development, test or production, got {app_env!r}")
    production = app_env == "production"
    service = env.get("ASSISTANT_SERVICE", "")
    if service and service not in SERVICE_SECRETS:
        raise SettingsError(f"ASSISTANT_SERVICE must be one of {', '.join(SERVICE_SECRETS)}, got {service!r}")
    own = [name for name in SERVICE_SECRETS[service] if name in SECRETS] if service else list(SECRETS)
    required = ["DATABASE_URL", *own] if production else []
    missing = [name for name in required if not env.get(name)]
    if missing:
        raise SettingsError("APP_ENV=production requires " + ", ".join(missing))
    if production:
        weak = [name for name in SECRETS if env.get(name) and weak_secret(env[name])]
        if weak:
            raise SettingsError(
                f"{', '.join(weak)} is too weak for APP_ENV=production: use {MIN_SECRET} random characters or more"
                " (python3 -c 'import secrets; print(secrets.token_hex(32))')"
            )
    web_port = _port(env, "WEB_PORT", 8000)
    action_port = _port(env, "ACTION_PORT", 5055)
    action_host = env.get("ACTION_HOST") or "127.0.0.1"
    if _count(env, "SANIC_WORKERS", 1) > 1 and not env.get("REDIS_URL"):
        raise SettingsError("SANIC_WORKERS above 1 needs REDIS_URL: Rasa's workers must share conversation locks")
    return Settings(
        app_env=app_env,
        database_url=env.get("DATABASE_URL") or _sqlite_url("facts.db"),
        tracker_store_url=env.get("TRACKER_STORE_URL") or env.get("DATABASE_URL") or _sqlite_url("tracker.db"),
        rasa_port=_port(env, "RASA_PORT", 5005),
        action_port=action_port,
        rasa_auth_token=env.get("RASA_AUTH_TOKEN", ""),
        consultant_contact=env.get("CONSULTANT_CONTACT") or DEFAULT_CONTACT,
        web_port=web_port,
        web_host=env.get("WEB_HOST", "0.0.0.0"),
        widget_secret=env.get("WIDGET_SECRET") or "",
        console_secret=env.get("CONSOLE_SECRET") or "",
        rasa_url=env.get("RASA_URL") or f"http://127.0.0.1:{_port(env, 'RASA_PORT', 5005)}",
        rasa_public_url=env.get("RASA_PUBLIC_URL") or f"http://localhost:{_port(env, 'RASA_PORT', 5005)}",
        business_hours=_hours(env.get("BUSINESS_HOURS", "9-18")),
        business_days=_days(env.get("BUSINESS_DAYS", "1,2,3,4,5")),
        handoff_claim_timeout=_count(env, "HANDOFF_CLAIM_TIMEOUT", 180),
        answer_min_confidence=_fraction(env, "ANSWER_MIN_CONFIDENCE", 0.35),
        answer_min_margin=_fraction(env, "ANSWER_MIN_MARGIN", 0.1),
        redis_url=env.get("REDIS_URL", ""),
        rate_limit_sender=_count(env, "RATE_LIMIT_PER_SENDER", 20),
        rate_limit_ip=_count(env, "RATE_LIMIT_PER_IP", 120),
        max_message_chars=_count(env, "MAX_MESSAGE_CHARS", 1000) or 1000,
        proxy_count=_count(env, "PROXY_COUNT", 0),
        # only the web app's own demo page by default, at either name this machine has for itself (make run
        # prints 127.0.0.1); embedding sites are listed explicitly
        cors_origins=tuple(
            o.strip()
            for o in env.get("CORS_ORIGINS", f"http://localhost:{web_port},http://127.0.0.1:{web_port}").split(",")
            if o.strip()
        ),
        action_host=action_host,
        action_server_token=env.get("ACTION_SERVER_TOKEN", ""),
        action_max_body=_size(env, "ACTION_MAX_BODY", 1024 * 1024),
        rasa_max_body=_size(env, "SANIC_REQUEST_MAX_SIZE", 300 * 1024),
        action_endpoint_url=env.get("ACTION_ENDPOINT_URL", ""),  # the launcher fills it in for the services
        rasa_model=env.get("RASA_MODEL", ""),
        sanic_workers=_count(env, "SANIC_WORKERS", 1) or 1,
        console_public_url=(
            env.get("CONSOLE_PUBLIC_URL") or env.get("PUBLIC_URL") or f"http://localhost:{web_port}"
        ).rstrip("/"),
        notify_max_per_hour=_count(env, "NOTIFY_MAX_PER_HOUR", 60),
        handoff_max_queued=_count(env, "HANDOFF_MAX_QUEUED", 20),
        handoff_max_per_minute=_count(env, "HANDOFF_MAX_PER_MINUTE", 10),
        handoff_max_per_address=_count(env, "HANDOFF_MAX_PER_ADDRESS", 2),
        notifiers=_notifiers(env),
        wechat=_wechat(env),
        wecom_kf=_wecom_kf(env, service),
    )


_current: Settings | None = None


def current() -> Settings:
    """This process's settings, read from its environment once."""
    global _current
    if _current is None:
        _current = load()
    return _current
