"""Settings: each bad variable is refused with one message naming it; secrets are kept safe."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from opssight.config import ConfigError, get_settings

GOOD_KEY = "k" * 40


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str):
    for name, value in env.items():
        monkeypatch.setenv(f"OPSSIGHT_{name}", value)
    get_settings.cache_clear()
    return get_settings()


@pytest.mark.parametrize("url", ["not a url", "mysql://x/y", "postgresql:///nohost"])
def test_malformed_database_url_is_named(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(monkeypatch, DATABASE_URL=url)
    assert "OPSSIGHT_DATABASE_URL" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgres_urls_use_psycopg3(monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    settings = settings_with(monkeypatch, DATABASE_URL=f"{scheme}://ops:pw@db.example:5433/ops")
    assert settings.database_url == "postgresql+psycopg://ops:pw@db.example:5433/ops"
    assert not settings.is_sqlite


def test_sqlite_url_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    settings = settings_with(monkeypatch, DATABASE_URL=url)
    assert settings.database_url == url
    assert settings.is_sqlite


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "mysql://x"])
def test_bad_redis_url_is_named(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(monkeypatch, REDIS_URL=url)
    assert "OPSSIGHT_REDIS_URL" in str(caught.value)
    assert "OPSSIGHT_DATABASE_URL" not in str(caught.value)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://h:6380", "unix:///r.sock"])
def test_good_redis_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    assert settings_with(monkeypatch, REDIS_URL=url).redis_url == url


def test_empty_redis_url_means_no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_with(monkeypatch, REDIS_URL="").redis_url is None


@pytest.mark.parametrize("placeholder", ["change-me", "CHANGEME", "secret"])
def test_placeholder_secret_key_refused_with_a_real_source(
    monkeypatch: pytest.MonkeyPatch, placeholder: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(monkeypatch, GITHUB_TOKEN="ghp_realtoken", SECRET_KEY=placeholder)
    assert "OPSSIGHT_SECRET_KEY" in str(caught.value)
    assert "placeholder" in str(caught.value)


def test_placeholder_secret_key_refused_when_demo_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match="OPSSIGHT_SECRET_KEY"):
        settings_with(monkeypatch, DEMO="0", SECRET_KEY="change-me")


def test_placeholder_admin_password_refused_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="OPSSIGHT_ADMIN_PASSWORD"):
        settings_with(monkeypatch, PROMETHEUS_URL="http://prom:9090", ADMIN_PASSWORD="change-me")


def test_placeholder_secret_key_accepted_in_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, SECRET_KEY="change-me")
    assert settings.demo_enabled
    assert settings.resolved_secret_key() == "change-me"


def test_placeholder_accepted_when_demo_forced_despite_real_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(
        monkeypatch, GITHUB_TOKEN="ghp_realtoken", DEMO="1", SECRET_KEY="change-me"
    )
    assert settings.demo_enabled


def test_short_secret_key_refused_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(monkeypatch, GITHUB_TOKEN="ghp_realtoken", SECRET_KEY="a-real-but-short-key")
    assert "OPSSIGHT_SECRET_KEY" in str(caught.value)
    assert "32" in str(caught.value)


def test_long_secret_key_accepted_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, GITHUB_TOKEN="ghp_realtoken", SECRET_KEY=GOOD_KEY)
    assert not settings.demo_enabled
    assert settings.resolved_secret_key() == GOOD_KEY


def test_demo_defaults_on_without_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch)
    assert settings.real_sources == []
    assert settings.demo_enabled is True


@pytest.mark.parametrize(
    ("variable", "value", "source"),
    [
        ("PROMETHEUS_URL", "http://prom:9090", "prometheus"),
        ("GITHUB_TOKEN", "ghp_x", "github"),
        ("KUBECONFIG", "/etc/kube/config", "kubernetes"),
        ("ALERTMANAGER_URL", "http://am:9093", "alertmanager"),
    ],
)
def test_demo_defaults_off_with_a_real_source(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, source: str
) -> None:
    settings = settings_with(monkeypatch, **{variable: value})
    assert settings.real_sources == [source]
    assert settings.demo_enabled is False


def test_demo_variable_forces_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, PROMETHEUS_URL="http://prom:9090", DEMO="1")
    assert settings.demo_enabled is True


def test_demo_variable_can_turn_demo_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_with(monkeypatch, DEMO="false").demo_enabled is False


@pytest.mark.parametrize("port", ["0", "70000", "abc"])
def test_bad_port_is_named(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    with pytest.raises(ConfigError, match="OPSSIGHT_PORT"):
        settings_with(monkeypatch, PORT=port)


def test_public_url_needs_a_scheme_and_loses_trailing_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings_with(monkeypatch, PUBLIC_URL="https://ops.example/").public_url == (
        "https://ops.example"
    )
    with pytest.raises(ConfigError, match="OPSSIGHT_PUBLIC_URL"):
        settings_with(monkeypatch, PUBLIC_URL="ops.example")


def test_two_bad_variables_are_both_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(monkeypatch, DATABASE_URL="mysql://x/y", REDIS_URL="http://nope")
    assert "OPSSIGHT_DATABASE_URL" in str(caught.value)
    assert "OPSSIGHT_REDIS_URL" in str(caught.value)


def test_generated_secret_key_is_persisted_privately(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "fresh-data"
    monkeypatch.setenv("OPSSIGHT_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    key = get_settings().resolved_secret_key()
    path = data_dir / "secret_key"
    assert path.read_text().strip() == key
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    get_settings.cache_clear()
    assert get_settings().resolved_secret_key() == key


def test_generated_secret_key_differs_per_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = set()
    for name in ("a", "b"):
        monkeypatch.setenv("OPSSIGHT_DATA_DIR", str(tmp_path / name))
        get_settings.cache_clear()
        keys.add(get_settings().resolved_secret_key())
    assert len(keys) == 2


def test_configured_secret_key_wins_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "untouched"
    monkeypatch.setenv("OPSSIGHT_DATA_DIR", str(data_dir))
    settings = settings_with(monkeypatch, SECRET_KEY=GOOD_KEY)
    assert settings.resolved_secret_key() == GOOD_KEY
    assert not (data_dir / "secret_key").exists()


def test_dotenv_file_in_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("OPSSIGHT_PROMETHEUS_URL=http://prom:9090\n")
    get_settings.cache_clear()
    assert get_settings().real_sources == ["prometheus"]


def test_empty_secret_key_means_unset_in_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, SECRET_KEY="")
    assert settings.demo_enabled
    assert len(settings.resolved_secret_key()) >= 32


def test_blank_values_mean_unset_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """An uncommented ``OPSSIGHT_X=`` line from .env.example is the same as leaving it out."""
    settings = settings_with(
        monkeypatch, GITHUB_TOKEN="ghp_realtoken", SECRET_KEY="", PROMETHEUS_URL=" ", DEMO=""
    )
    assert settings.secret_key is None and settings.prometheus_url is None
    assert settings.demo is None and not settings.demo_enabled
    assert len(settings.resolved_secret_key()) >= 32


GITHUB_APP = {"GITHUB_APP_ID": "123", "GITHUB_APP_INSTALLATION_ID": "42"}


def test_a_github_app_is_a_real_source(monkeypatch: pytest.MonkeyPatch) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----"
    settings = settings_with(monkeypatch, GITHUB_APP_PRIVATE_KEY=pem, **GITHUB_APP)
    assert settings.github_app and settings.real_sources == ["github"]
    assert settings.github_app_installation_id == 42
    assert settings.github_app_key() == pem.replace("\\n", "\n")  # one-line PEM in .env
    assert pem not in repr(settings)


def test_a_github_app_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = settings_with(monkeypatch, GITHUB_APP_PRIVATE_KEY_FILE=str(tmp_path), **GITHUB_APP)
    assert settings.github_app_key() == tmp_path


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"GITHUB_APP_ID": "123"}, "OPSSIGHT_GITHUB_APP_INSTALLATION_ID and"),
        (GITHUB_APP, "OPSSIGHT_GITHUB_APP_PRIVATE_KEY (or _FILE)"),
        ({"GITHUB_APP_PRIVATE_KEY_FILE": "/k.pem"}, "OPSSIGHT_GITHUB_APP_ID and"),
    ],
)
def test_an_incomplete_github_app_is_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(monkeypatch, **env)
    assert missing in str(caught.value)


def test_blank_github_app_settings_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    blank = {name: "" for name in ("GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_FILE")}
    settings = settings_with(monkeypatch, GITHUB_APP_ID=" ", GITHUB_APP_INSTALLATION_ID="", **blank)
    assert not settings.github_app and settings.real_sources == []
