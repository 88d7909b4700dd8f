"""Configuration from the environment: defaults, aliases (the specific name wins), and clear refusals."""

from __future__ import annotations

import pytest

from registry.config import ConfigError, load_settings


def test_defaults_follow_the_guide() -> None:
    settings = load_settings({})
    assert settings.database_type == "sqlite"
    assert settings.database_path == "/data/registry.db"
    assert settings.database_url == "sqlite+aiosqlite:////data/registry.db"
    assert (settings.host, settings.port, settings.metrics_port) == ("0.0.0.0", 8000, 9090)
    assert settings.health_check_interval == 30
    assert settings.agent_timeout == 60
    assert settings.agent_retention == 3600
    assert settings.leader_election.enabled is False
    assert (settings.leader_election.lease_duration, settings.leader_election.renew_deadline) == (15, 10)
    assert settings.auth_token is None
    assert settings.encryption_key is None


def test_guide_config_map_values() -> None:
    settings = load_settings(
        {
            "DATABASE_TYPE": "sqlite",
            "DATABASE_PATH": "/tmp/x/registry.db",
            "REGISTRY_PORT": "8000",
            "METRICS_PORT": "9090",
            "LOG_LEVEL": "debug",
            "HEALTH_CHECK_INTERVAL": "30s",
            "AGENT_TIMEOUT": "1m30s",
            "ENABLE_LEADER_ELECTION": "true",
            "LEADER_ELECTION_LEASE_DURATION": "15s",
            "LEADER_ELECTION_RENEW_DEADLINE": "10s",
            "LEADER_ELECTION_RETRY_PERIOD": "2s",
            "AUTH_TOKEN": "dev-token-change-in-production",
            "ENCRYPTION_KEY": "dev-key-32-bytes-change-in-prod!",
            "POD_NAME": "mcp-mesh-registry-0",
            "POD_NAMESPACE": "mcp-mesh",
        }
    )
    assert settings.log_level == "DEBUG"
    assert settings.agent_timeout == 90
    assert settings.leader_election.enabled is True
    assert settings.instance_id == "mcp-mesh-registry-0", "REGISTRY_INSTANCE_ID falls back to POD_NAME"
    assert settings.pod_namespace == "mcp-mesh"
    assert settings.encryption_key == b"dev-key-32-bytes-change-in-prod!"
    assert "dev-token" not in repr(settings), "secrets stay out of reprs (and so out of logs)"


def test_aliases_and_precedence() -> None:
    real = load_settings(
        {
            "HOST": "127.0.0.1",
            "PORT": "9000",
            "DEFAULT_TIMEOUT_THRESHOLD": "20",
            "MCP_MESH_RETENTION": "40s",
            "MCP_MESH_LOG_LEVEL": "WARNING",
        }
    )
    assert (real.host, real.port, real.agent_timeout, real.agent_retention) == ("127.0.0.1", 9000, 20, 40)
    assert real.log_level == "WARNING"
    both = load_settings(
        {
            "PORT": "9000",
            "REGISTRY_PORT": "8001",
            "AGENT_TIMEOUT": "5s",
            "DEFAULT_TIMEOUT_THRESHOLD": "20",
            "REGISTRY_INSTANCE_ID": "me",
            "POD_NAME": "pod",
        }
    )
    assert (both.port, both.agent_timeout, both.instance_id) == (8001, 5, "me")


def test_database_urls() -> None:
    pg = load_settings({"DATABASE_URL": "postgres://u:p%40ss@db:5432/registry?sslmode=disable"})
    assert pg.database_type == "postgresql"
    assert pg.database_url == "postgresql+asyncpg://u:p%40ss@db:5432/registry"
    assert "p%40ss" not in pg.safe_database_url
    parts = load_settings(
        {
            "DATABASE_TYPE": "postgresql",
            "DATABASE_HOST": "postgres",
            "DATABASE_NAME": "registry",
            "DATABASE_USER": "mcpmesh",
            "DATABASE_PASSWORD": "s3cr:t",
        }
    )
    assert parts.database_url == "postgresql+asyncpg://mcpmesh:s3cr%3At@postgres:5432/registry"
    mysql = load_settings({"DATABASE_TYPE": "mysql", "DATABASE_HOST": "db"})
    assert mysql.database_url.startswith("mysql+aiomysql://db:3306/")
    sqlite = load_settings({"DATABASE_URL": "/tmp/reg.db"})
    assert (sqlite.database_type, sqlite.database_url) == ("sqlite", "sqlite+aiosqlite:////tmp/reg.db")


@pytest.mark.parametrize(
    ("env", "variable", "allowed"),
    [
        ({"DATABASE_TYPE": "oracle"}, "DATABASE_TYPE", "one of"),
        ({"DATABASE_TYPE": "postgresql"}, "DATABASE_HOST", "host"),
        ({"HEALTH_CHECK_INTERVAL": "30 seconds"}, "HEALTH_CHECK_INTERVAL", "Go duration"),
        ({"AGENT_TIMEOUT": "0s"}, "AGENT_TIMEOUT", "greater than zero"),
        ({"DEFAULT_TIMEOUT_THRESHOLD": "soon"}, "DEFAULT_TIMEOUT_THRESHOLD", "Go duration"),
        ({"REGISTRY_PORT": "80000"}, "REGISTRY_PORT", "1 to 65535"),
        ({"METRICS_PORT": "http"}, "METRICS_PORT", "1 to 65535"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "one of"),
        ({"ENABLE_LEADER_ELECTION": "maybe"}, "ENABLE_LEADER_ELECTION", "true or false"),
        ({"ENCRYPTION_KEY": "too-short"}, "ENCRYPTION_KEY", "exactly 32 bytes"),
        (
            {"LEADER_ELECTION_RENEW_DEADLINE": "20s"},
            "LEADER_ELECTION_RENEW_DEADLINE",
            "lease > renew > retry",
        ),
        ({"LEADER_ELECTION_RETRY_PERIOD": "10s"}, "LEADER_ELECTION_RETRY_PERIOD", "lease > renew > retry"),
        ({"DATABASE_URL": "redis://cache:6379"}, "DATABASE_URL", "postgres://"),
    ],
)
def test_bad_values_name_variable_value_and_allowed(env: dict[str, str], variable: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.variable == variable
    assert allowed in caught.value.allowed
    message = str(caught.value)
    assert variable in message
    assert "\n" not in message


def test_encryption_key_never_appears_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"ENCRYPTION_KEY": "secret-but-short"})
    assert "secret-but-short" not in str(caught.value)
    assert "16 bytes" in str(caught.value)
