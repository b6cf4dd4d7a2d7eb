import pytest

from traceability.errors import ConfigurationError
from traceability.settings import DEFAULT_SECRET_KEY, Environment, load_settings


def test_default_secret_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACE_SECRET_KEY", raising=False)
    monkeypatch.delenv("TRACE_ENVIRONMENT", raising=False)
    with pytest.raises(ConfigurationError, match="TRACE_SECRET_KEY"):
        load_settings()


def test_default_secret_is_accepted_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACE_SECRET_KEY", raising=False)
    monkeypatch.setenv("TRACE_ENVIRONMENT", "development")
    settings = load_settings()
    assert settings.environment is Environment.development
    assert settings.secret_key == DEFAULT_SECRET_KEY


def test_a_short_secret_is_refused_in_production() -> None:
    with pytest.raises(ConfigurationError, match="32 characters"):
        load_settings(environment="production", secret_key="too-short")


def test_settings_come_from_trace_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("TRACE_DATABASE_URL", "postgresql+psycopg://db.example/trace")
    monkeypatch.setenv("TRACE_ORIGIN", "clinic.example/log")
    monkeypatch.setenv("TRACE_RESOLVER_BASE", "https://id.clinic.example")
    monkeypatch.setenv("TRACE_KEY_DIR", "/srv/keys")
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://db.example/trace"
    assert settings.origin == "clinic.example/log"
    assert settings.resolver_base == "https://id.clinic.example"
    assert str(settings.key_dir) == "/srv/keys"
    assert not settings.is_sqlite


def test_invalid_values_name_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="TRACE_TOKEN_TTL_MINUTES"):
        load_settings(environment="development", token_ttl_minutes=0)
