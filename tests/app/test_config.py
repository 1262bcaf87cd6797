"""Environment validation."""

from __future__ import annotations

import base64

import pytest

from app.config import DEFAULT_PORT, ConfigError, load_config

KEY = base64.b64encode(b"k" * 32).decode()


def test_defaults(tmp_path) -> None:
    config = load_config({"ACCUPREDIX_DATA_DIR": str(tmp_path / "d")})
    assert config.data_dir == tmp_path / "d"
    assert config.database_url == f"sqlite:///{(tmp_path / 'd' / 'accupredix.db').as_posix()}"
    assert (config.host, config.port) == ("127.0.0.1", DEFAULT_PORT)
    assert config.credentials_key is None
    assert config.public_url is None
    assert not (tmp_path / "d").exists(), "the data dir is created on demand, not on read"
    config.ensure_data_dir()
    assert (tmp_path / "d" / "logs").is_dir()


def test_everything_set(tmp_path) -> None:
    config = load_config(
        {
            "ACCUPREDIX_DATA_DIR": str(tmp_path),
            "ACCUPREDIX_DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/apx",
            "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": KEY,
            "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS": f"{KEY},{KEY}",
            "ACCUPREDIX_APP_PUBLIC_URL": "https://forecast.example.com/",
            "ACCUPREDIX_OAUTH_XERO_CLIENT_ID": "cid",
            "ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET": "csecret",
            "ACCUPREDIX_HOST": "0.0.0.0",
            "ACCUPREDIX_PORT": "9000",
        }
    )
    assert config.database_url == "postgresql+psycopg://u:p@127.0.0.1:5432/apx"
    assert config.credentials_key == b"k" * 32
    assert config.previous_keys == (b"k" * 32, b"k" * 32)
    assert config.public_url == "https://forecast.example.com"
    assert config.oauth_clients["xero"].client_id == "cid"
    assert "csecret" not in repr(config)
    assert (config.host, config.port) == ("0.0.0.0", 9000)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("APP_CONNECTOR_CREDENTIALS_KEY", "not base64!", "not valid base64"),
        (
            "APP_CONNECTOR_CREDENTIALS_KEY",
            base64.b64encode(b"short").decode(),
            "exactly 32 bytes",
        ),
        ("APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS", f"{KEY},abc", "KEY_PREVIOUS"),
        ("PORT", "http", "must be a number"),
        ("PORT", "70000", "between 0 and 65535"),
        ("APP_PUBLIC_URL", "forecast.example.com", "absolute http"),
        ("DATABASE_URL", "/var/lib/accupredix.db", "SQLAlchemy URL"),
        ("OAUTH_SHOPIFY_CLIENT_ID", "only-the-id", "or neither"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL"),
    ],
)
def test_invalid_settings_are_named(tmp_path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as excinfo:
        load_config({"ACCUPREDIX_DATA_DIR": str(tmp_path), f"ACCUPREDIX_{name}": value})
    assert f"ACCUPREDIX_{name}" in str(excinfo.value)


def test_a_key_in_the_message_is_never_echoed(tmp_path) -> None:
    bad = base64.b64encode(b"super-secret-but-31-bytes-long!").decode()
    with pytest.raises(ConfigError) as excinfo:
        load_config(
            {"ACCUPREDIX_DATA_DIR": str(tmp_path), "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": bad}
        )
    assert bad not in str(excinfo.value)
    assert "31 bytes" in str(excinfo.value)


def test_data_dir_that_is_a_file_is_refused(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        load_config({"ACCUPREDIX_DATA_DIR": str(tmp_path / "file")})


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
        ("scheduler.internal:8786", "tcp://scheduler.internal:8786"),
        (" tls://[::1]:8786 ", "tls://[::1]:8786"),
    ],
)
def test_forecast_cluster_address(tmp_path, value: str, address: str) -> None:
    config = load_config(
        {"ACCUPREDIX_DATA_DIR": str(tmp_path), "ACCUPREDIX_FORECAST_CLUSTER": value}
    )
    assert config.forecast_cluster == address
    assert load_config({"ACCUPREDIX_DATA_DIR": str(tmp_path)}).forecast_cluster is None


@pytest.mark.parametrize(
    "value", ["10.0.0.5", "http://10.0.0.5:8786", "tcp://:8786", "tcp://h:port", "tcp://h:1/x"]
)
def test_forecast_cluster_address_is_checked(tmp_path, value: str) -> None:
    with pytest.raises(ConfigError, match="ACCUPREDIX_FORECAST_CLUSTER must be a Dask scheduler"):
        load_config({"ACCUPREDIX_DATA_DIR": str(tmp_path), "ACCUPREDIX_FORECAST_CLUSTER": value})
