"""The registry's configuration, read once from the environment at start.

The guide's names come first; the real (Go) registry's names are accepted as aliases, and the more
specific name wins when both are set. Any bad value raises :class:`ConfigError`, which ``python -m
registry`` turns into exit status 2 and one line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from registry.durations import ALLOWED_DURATION, parse_duration

SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

DATABASE_TYPES = {
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
LOG_LEVELS = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
}
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off", ""}


class ConfigError(ValueError):
    """A configuration value that cannot be used: names the variable, the value and what is allowed."""

    def __init__(self, variable: str, value: str, allowed: str) -> None:
        self.variable, self.value, self.allowed = variable, value, allowed
        super().__init__(f"invalid configuration: {variable}={value!r}: {allowed}")


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Lease-based leader election: whether it runs, the guide's three timings (seconds), the Lease name."""

    enabled: bool = False
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    lease_name: str = "mcp-mesh-registry-leader"

    def __post_init__(self) -> None:
        if not (self.lease_duration > self.renew_deadline > self.retry_period > 0):
            raise ValueError(
                "leader election timings must satisfy lease duration > renew deadline > retry period > 0, "
                f"got {self.lease_duration}s / {self.renew_deadline}s / {self.retry_period}s"
            )


@dataclass(frozen=True)
class Settings:
    """Everything the registry reads from its environment."""

    database_type: str = "sqlite"
    database_url: str = "sqlite+aiosqlite:////data/registry.db"
    database_path: str = "/data/registry.db"
    host: str = "0.0.0.0"
    port: int = 8000
    metrics_port: int = 9090
    log_level: str = "INFO"
    health_check_interval: float = 30.0
    agent_timeout: float = 60.0
    agent_retention: float = 3600.0
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    instance_id: str = "registry"
    pod_name: str | None = None
    pod_ip: str | None = None
    pod_namespace: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    encryption_key: bytes | None = field(default=None, repr=False)
    max_body_bytes: int = 1024 * 1024
    shutdown_grace: float = 20.0
    last_seen_flush_interval: float = 1.0
    database_connect_timeout: float = 30.0
    event_max_rows: int = 100_000
    proxy_timeout: float = 60.0
    propagate_headers: tuple[str, ...] = ()

    @property
    def safe_database_url(self) -> str:
        """The database URL with any password masked, fit for logs."""
        parts = urlsplit(self.database_url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.database_url


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of names that is set (and not blank), with its value."""
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    return None


def _duration(env: Mapping[str, str], default: float, *names: str, allow_zero: bool = False) -> float:
    found = _first(env, *names)
    if found is None:
        return default
    name, value = found
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ConfigError(name, value, ALLOWED_DURATION) from None
    if seconds <= 0 and not allow_zero:
        raise ConfigError(name, value, "a duration greater than zero (" + ALLOWED_DURATION + ")")
    return seconds


def _port(env: Mapping[str, str], default: int, *names: str) -> int:
    found = _first(env, *names)
    if found is None:
        return default
    name, value = found
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigError(name, value, "a TCP port number from 1 to 65535")
    return int(value)


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(name, env[name], "true or false")


def _choice(env: Mapping[str, str], default: str, choices: Mapping[str, str], *names: str) -> str:
    found = _first(env, *names)
    if found is None:
        return default
    name, value = found
    try:
        return choices[value.lower()]
    except KeyError:
        raise ConfigError(name, value, "one of " + ", ".join(sorted(set(choices)))) from None


def _database(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(type, SQLAlchemy async URL, SQLite path) from DATABASE_URL or DATABASE_TYPE and its parts."""
    url = _first(env, "DATABASE_URL")
    path = (_first(env, "DATABASE_PATH") or ("", "/data/registry.db"))[1]
    if url is not None:
        return _database_from_url(*url)
    db_type = _choice(env, "sqlite", DATABASE_TYPES, "DATABASE_TYPE")
    if db_type == "sqlite":
        return "sqlite", _sqlite_url(path), path
    default_port = {"postgresql": 5432, "mysql": 3306}[db_type]
    host_found = _first(env, "DATABASE_HOST")
    if host_found is None:
        raise ConfigError("DATABASE_HOST", "", f"a host name: DATABASE_TYPE={db_type} needs a database host")
    port = _port(env, default_port, "DATABASE_PORT")
    name = (_first(env, "DATABASE_NAME") or ("", "registry"))[1]
    user = (_first(env, "DATABASE_USER", "DATABASE_USERNAME") or ("", ""))[1]
    password = env.get("DATABASE_PASSWORD", "")
    driver = {"postgresql": "postgresql+asyncpg", "mysql": "mysql+aiomysql"}[db_type]
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    at = "@" if auth else ""
    return db_type, f"{driver}://{auth}{at}{host_found[1]}:{port}/{quote(name, safe='')}", path


def _sqlite_url(path: str) -> str:
    if path == ":memory:":
        return "sqlite+aiosqlite:///:memory:"
    return "sqlite+aiosqlite:///" + str(Path(path).expanduser().absolute())


def _database_from_url(name: str, value: str) -> tuple[str, str, str]:
    """Accept the real registry's DATABASE_URL: postgres(ql)://, mysql://, SQLAlchemy URLs, SQLite paths."""
    scheme, _, rest = value.partition("://")
    scheme = scheme.lower()
    if not rest:
        path = value.removeprefix("file:").removeprefix("sqlite:")
        return "sqlite", _sqlite_url(path), path
    if scheme.startswith("sqlite"):
        path = rest.removeprefix("/") if rest.startswith("//") else rest
        return "sqlite", _sqlite_url(path or ":memory:"), path
    parts = urlsplit(value)
    if not parts.hostname:
        raise ConfigError(name, value, "a database URL with a host, e.g. postgres://user:pass@host:5432/db")
    query = dict(parse_qsl(parts.query))
    if scheme.startswith(("postgres", "postgresql")):
        sslmode = query.pop("sslmode", None)
        if sslmode and sslmode != "disable":
            query["ssl"] = sslmode
        url = parts._replace(scheme="postgresql+asyncpg", query=urlencode(query)).geturl()
        return "postgresql", url, ""
    if scheme.startswith(("mysql", "mariadb")):
        return "mysql", parts._replace(scheme="mysql+aiomysql", query=urlencode(query)).geturl(), ""
    raise ConfigError(
        name, value, "a postgres://, postgresql://, mysql:// or sqlite:// URL, or a SQLite file path"
    )


def _namespace(env: Mapping[str, str]) -> str | None:
    found = _first(env, "POD_NAMESPACE")
    if found is not None:
        return found[1]
    try:
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip() or None
    except OSError:
        return None


def _encryption_key(env: Mapping[str, str]) -> bytes | None:
    value = env.get("ENCRYPTION_KEY")
    if value is None or value == "":
        return None
    key = value.encode("utf-8")
    if len(key) != 32:
        # The value itself is a secret: name its length, never its content.
        raise ConfigError("ENCRYPTION_KEY", f"<{len(key)} bytes>", "exactly 32 bytes (AES-256 key)")
    return key


def _leader_election(env: Mapping[str, str]) -> LeaderElectionSettings:
    defaults = LeaderElectionSettings()
    lease = _duration(env, defaults.lease_duration, "LEADER_ELECTION_LEASE_DURATION")
    renew = _duration(env, defaults.renew_deadline, "LEADER_ELECTION_RENEW_DEADLINE")
    retry = _duration(env, defaults.retry_period, "LEADER_ELECTION_RETRY_PERIOD")
    if not lease > renew:
        raise ConfigError(
            "LEADER_ELECTION_RENEW_DEADLINE",
            env.get("LEADER_ELECTION_RENEW_DEADLINE", f"{renew:g}s"),
            f"less than LEADER_ELECTION_LEASE_DURATION ({lease:g}s): lease > renew > retry",
        )
    if not renew > retry:
        raise ConfigError(
            "LEADER_ELECTION_RETRY_PERIOD",
            env.get("LEADER_ELECTION_RETRY_PERIOD", f"{retry:g}s"),
            f"less than LEADER_ELECTION_RENEW_DEADLINE ({renew:g}s): lease > renew > retry",
        )
    lease_name = (_first(env, "LEADER_ELECTION_LEASE_NAME") or ("", defaults.lease_name))[1]
    return LeaderElectionSettings(
        enabled=_bool(env, "ENABLE_LEADER_ELECTION"),
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
        lease_name=lease_name,
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise ConfigError on the first bad value."""
    env = os.environ if env is None else env
    db_type, db_url, db_path = _database(env)
    port = _port(env, 8000, "REGISTRY_PORT", "PORT")
    metrics_port = _port(env, 9090, "METRICS_PORT")
    host = (_first(env, "REGISTRY_HOST", "HOST") or ("", "0.0.0.0"))[1]
    pod_name = (_first(env, "POD_NAME") or ("", None))[1]
    instance = _first(env, "REGISTRY_INSTANCE_ID")
    instance_id = instance[1] if instance else (pod_name or socket.gethostname())
    events = _first(env, "EVENT_MAX_ROWS", "MCP_MESH_EVENT_MAX_ROWS")
    if events is not None and not events[1].isdigit():
        raise ConfigError(events[0], events[1], "a whole number of events to keep (0 = unlimited)")
    body = _first(env, "MAX_BODY_BYTES")
    if body is not None and (not body[1].isdigit() or int(body[1]) < 1024):
        raise ConfigError(body[0], body[1], "a whole number of bytes, at least 1024")
    return Settings(
        database_type=db_type,
        database_url=db_url,
        database_path=db_path,
        host=host,
        port=port,
        metrics_port=metrics_port,
        log_level=_choice(env, "INFO", LOG_LEVELS, "LOG_LEVEL", "MCP_MESH_LOG_LEVEL"),
        health_check_interval=_duration(env, 30.0, "HEALTH_CHECK_INTERVAL"),
        agent_timeout=_duration(env, 60.0, "AGENT_TIMEOUT", "DEFAULT_TIMEOUT_THRESHOLD"),
        agent_retention=_duration(env, 3600.0, "AGENT_RETENTION", "MCP_MESH_RETENTION", allow_zero=True),
        leader_election=_leader_election(env),
        instance_id=instance_id,
        pod_name=pod_name,
        pod_ip=(_first(env, "POD_IP") or ("", None))[1],
        pod_namespace=_namespace(env),
        auth_token=env.get("AUTH_TOKEN") or None,
        encryption_key=_encryption_key(env),
        max_body_bytes=int(body[1]) if body else 1024 * 1024,
        shutdown_grace=_duration(env, 20.0, "SHUTDOWN_GRACE_PERIOD"),
        last_seen_flush_interval=_duration(env, 1.0, "LAST_SEEN_FLUSH_INTERVAL"),
        database_connect_timeout=_duration(env, 30.0, "DATABASE_CONNECT_TIMEOUT", allow_zero=True),
        event_max_rows=int(events[1]) if events else 100_000,
        proxy_timeout=min(_duration(env, 60.0, "MCP_MESH_PROXY_TIMEOUT"), 600.0),
        propagate_headers=_header_prefixes(env.get("MCP_MESH_PROPAGATE_HEADERS", "")),
    )


def _header_prefixes(value: str) -> tuple[str, ...]:
    """MCP_MESH_PROPAGATE_HEADERS: comma-separated header names or prefixes, matched case-insensitively."""
    return tuple(item.strip().lower() for item in value.split(",") if item.strip())
