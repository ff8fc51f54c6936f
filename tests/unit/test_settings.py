"""Settings come from the environment, and child processes (`order-engine dev`) get exactly the same ones."""

from __future__ import annotations

import os
from dataclasses import fields, replace
from pathlib import Path

import pytest

from order_engine.app.settings import Settings, asyncpg_url


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("ORDER_ENGINE_") or name in {"DATABASE_URL", "REDIS_URL"}:
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_when_the_environment_is_empty(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()
    assert settings == Settings()
    assert (settings.ws_ping_interval_s, settings.ws_ping_timeout_s, settings.rate_limit) == (20.0, 20.0, 100)


def test_every_setting_round_trips_through_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    """as_env() is what child processes receive: from_env() must read back every field, none dropped."""
    changed = Settings(
        database_url="postgresql://u@db:5432/orders",
        redis_url="redis://cache:6379/2",
        queue_name="q",
        key_prefix="p",
        worker_concurrency=7,
        max_attempts=5,
        retry_base_s=0.5,
        job_timeout_s=9,
        dex_latency_scale=0.25,
        dex_failure_rate=0.1,
        dex_seed="seed",
        dex_drift_bps=3.0,
        dex_drift_mean_bps=-1.5,
        market_depth_scale=4.0,
        market_volatility_bps=2.5,
        market_tick_s=0.25,
        limit_max_age_s=3600.0,
        sniper_max_age_s=600.0,
        sniper_concurrency=3,
        sniper_turn_wait_s=0.5,
        launch_fee_decay_s=5.0,
        market_launch_every_s=30.0,
        sim_api=True,
        metrics=False,
        metrics_port=9101,
        metrics_host="0.0.0.0",
        group_commit=False,
        log_level="DEBUG",
        log_json=True,
        data_dir=Path("/tmp/oe-data"),
        web_ui=False,
        rate_limit=42,
        rate_limit_window_s=30,
        recovery_interval_s=2.0,
        recovery_stale_after_s=33.0,
        admin_token="s3cret",
        allow_unguarded_bind=True,
        api_rate_limit_per_min=120,
        ws_max_connections=99,
        ws_max_per_order=3,
        ws_resync_s=1.5,
        ws_ping_interval_s=0.5,
        ws_ping_timeout_s=2.5,
        http_keep_alive_s=30,
        http_fast_accept=False,
        api_db_pool_size=4,
        loop_lag_warn_ms=50.0,
    )
    # The test names every field with a non-default value, so a new field cannot slip past it.
    assert [f.name for f in fields(Settings) if getattr(changed, f.name) == f.default] == []
    for name, value in changed.as_env().items():
        clean_env.setenv(name, value)
    assert Settings.from_env() == changed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDER_ENGINE_DEX_FAILURE_RATE": "1.5"}, "ORDER_ENGINE_DEX_FAILURE_RATE"),
        ({"ORDER_ENGINE_DEX_LATENCY_SCALE": "-1"}, "ORDER_ENGINE_DEX_LATENCY_SCALE"),
        ({"ORDER_ENGINE_RATE_LIMIT_WINDOW_S": "0"}, "ORDER_ENGINE_RATE_LIMIT"),
        ({"ORDER_ENGINE_API_DB_POOL_SIZE": "0"}, "ORDER_ENGINE_API_DB_POOL_SIZE"),
        ({"ORDER_ENGINE_WS_PING_INTERVAL_S": "0"}, "ORDER_ENGINE_WS_PING_INTERVAL_S"),
        ({"ORDER_ENGINE_WS_PING_TIMEOUT_S": "-3"}, "ORDER_ENGINE_WS_PING_TIMEOUT_S"),
        ({"ORDER_ENGINE_HTTP_KEEP_ALIVE_S": "0"}, "ORDER_ENGINE_HTTP_KEEP_ALIVE_S"),
        ({"ORDER_ENGINE_WORKER_CONCURRENCY": "0"}, "concurrency"),
        ({"ORDER_ENGINE_MARKET_VOLATILITY_BPS": "-1"}, "ORDER_ENGINE_MARKET_VOLATILITY_BPS"),
        ({"ORDER_ENGINE_MARKET_VOLATILITY_BPS": "1001"}, "ORDER_ENGINE_MARKET_VOLATILITY_BPS"),
        ({"ORDER_ENGINE_MARKET_TICK_S": "0"}, "ORDER_ENGINE_MARKET_TICK_S"),
        ({"ORDER_ENGINE_MARKET_TICK_S": "0.01"}, "ORDER_ENGINE_MARKET_TICK_S"),
    ],
)
def test_invalid_values_are_refused_naming_the_variable(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Settings.from_env()


def test_database_urls_are_given_to_sqlalchemy_as_asyncpg() -> None:
    assert asyncpg_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert (
        asyncpg_url("postgresql+psycopg://u@h:5/db?sslmode=require") == "postgresql+asyncpg://u@h:5/db?sslmode=require"
    )
    assert replace(Settings(), database_url="postgresql://u@h/db").sqlalchemy_url == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ValueError, match="postgresql://"):
        asyncpg_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="DATABASE_URL is not set"):
        _ = Settings().sqlalchemy_url


def test_the_unguarded_bind_override_is_off_unless_set_by_its_exact_name(clean_env: pytest.MonkeyPatch) -> None:
    """`ORDER_ENGINE_ALLOW_UNGUARDED_BIND` is the documented name (README, docker-compose.yml); children of
    `order-engine dev` get it under that name. Before the setting existed, this failed (no such field)."""
    assert Settings.from_env().allow_unguarded_bind is False
    assert Settings.from_env().as_env()["ORDER_ENGINE_ALLOW_UNGUARDED_BIND"] == "false"
    clean_env.setenv("ORDER_ENGINE_ALLOW_UNGUARDED_BIND", "true")
    settings = Settings.from_env()
    assert settings.allow_unguarded_bind is True
    assert settings.as_env()["ORDER_ENGINE_ALLOW_UNGUARDED_BIND"] == "true"


def test_the_market_moves_by_default_and_ticks_once_a_second(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()
    assert (settings.market_volatility_bps, settings.market_tick_s) == (10.0, 1.0)
    clean_env.setenv("ORDER_ENGINE_MARKET_VOLATILITY_BPS", "0")
    assert Settings.from_env().market_volatility_bps == 0  # a market that moves only when traded


def test_the_saq_job_timeout_is_the_attempt_timeout_plus_two_rate_limit_windows() -> None:
    """What the README says the SAQ UI shows: 60 + 2 × 60 = 180 s at the defaults; the attempt timeout alone
    when the start-rate limit is off (an attempt then never waits for its turn inside its job)."""
    assert Settings().job_timeout_total_s == 180
    assert Settings(rate_limit=0).job_timeout_total_s == 60
    assert Settings(job_timeout_s=30, rate_limit_window_s=5).job_timeout_total_s == 40
