"""Settings from the environment (one place; the README's configuration table mirrors it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def _env(name: str, default: Any, cast: type = str) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if cast is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return cast(raw)


def asyncpg_url(url: str) -> str:
    """`postgresql://…` (or postgres://, postgresql+psycopg://…) as SQLAlchemy's asyncpg URL.

    Unix-socket URLs (`postgresql://user@/db?host=/run/postgresql`) pass through unchanged.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
    return urlunsplit(("postgresql+asyncpg", *parts[1:]))


# The market loop: a tick's flow std-dev up to 10 % (past that a price could halve in a tick), and ticks between
# 20 a second and one an hour.
MAX_VOLATILITY_BPS = 1000.0
MIN_TICK_S, MAX_TICK_S = 0.05, 3600.0


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""
    queue_name: str = "order-execution"
    key_prefix: str = "order-engine"
    worker_concurrency: int = 10
    max_attempts: int = 3
    retry_base_s: float = 2.0
    job_timeout_s: int = 60
    dex_latency_scale: float = 1.0
    dex_failure_rate: float = 0.0
    dex_seed: str | None = None
    dex_drift_bps: float = 20.0
    dex_drift_mean_bps: float = 0.0
    market_depth_scale: float = 1.0
    market_volatility_bps: float = 10.0
    market_tick_s: float = 1.0
    log_level: str = "INFO"
    log_json: bool | None = None
    data_dir: Path = field(default_factory=lambda: Path(".data"))
    web_ui: bool = True
    rate_limit: int = 100
    rate_limit_window_s: int = 60
    recovery_interval_s: float = 10.0
    recovery_stale_after_s: float = 90.0
    admin_token: str | None = None
    # Lets `order-engine api`/`dev` bind a non-loopback address with no admin token (/saq unguarded).
    allow_unguarded_bind: bool = False
    api_rate_limit_per_min: int = 600
    ws_max_connections: int = 10_000
    ws_max_per_order: int = 100
    ws_resync_s: float = 5.0
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    # An idle keep-alive connection is closed after this. Longer than a client's own expiry (httpx and aiohttp: 5
    # and 15 s) and a load balancer's idle timeout (AWS ALB 60 s), so the client or the balancer always closes
    # first: a server closing at the very moment a client reuses the connection fails that request (uvicorn's
    # default, 5 s, raced httpx's 5 s in a burst test).
    http_keep_alive_s: int = 75
    # POST /api/orders/execute's 201 answered in front of Litestar (app/http/fast_accept.py); off with the API rate
    # limit on, whatever this says.
    http_fast_accept: bool = True
    api_db_pool_size: int = 20
    loop_lag_warn_ms: float = 100.0
    # The /api/sim routes (steer the market): off for `order-engine api`, on in `order-engine dev` and the tests.
    sim_api: bool = False
    limit_max_age_s: float = 30 * 24 * 3600.0  # GTC limits expire after this; GTD ones must expire within it
    sniper_max_age_s: float = 24 * 3600.0  # a sniper expires after this by default, and must expire within it
    sniper_concurrency: int = 8  # snipers one worker process executes at once, on their own lane
    sniper_turn_wait_s: float = 2.0  # a sniper waits at most this for those ahead of it in its launch's line
    launch_fee_decay_s: float = 60.0  # Meteora's launch fee decays to its normal fee over this
    market_launch_every_s: float = 0.0  # the market leader launches a random token this often (0 = never)
    metrics: bool = True  # Prometheus metrics (app/metrics/); false: no listener, no /metrics
    metrics_port: int = 0  # a worker's or watcher's own /metrics port (0: none; see app/metrics/exposition.py)
    metrics_host: str = "127.0.0.1"  # ... and the address it binds
    # A worker's in-flight orders share UPDATE statements and commits (adapters/sql/group_commit.py), an API's accepts
    # made together an INSERT and an enqueue script (adapters/saq_enqueue.py); false: one each.
    group_commit: bool = True

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": _env("DATABASE_URL", ""),
            "redis_url": _env("REDIS_URL", ""),
            "queue_name": _env("ORDER_ENGINE_QUEUE_NAME", cls.queue_name),
            "key_prefix": _env("ORDER_ENGINE_KEY_PREFIX", cls.key_prefix),
            "worker_concurrency": _env("ORDER_ENGINE_WORKER_CONCURRENCY", cls.worker_concurrency, int),
            "max_attempts": _env("ORDER_ENGINE_MAX_ATTEMPTS", cls.max_attempts, int),
            "retry_base_s": _env("ORDER_ENGINE_RETRY_BASE_S", cls.retry_base_s, float),
            "job_timeout_s": _env("ORDER_ENGINE_JOB_TIMEOUT_S", cls.job_timeout_s, int),
            "dex_latency_scale": _env("ORDER_ENGINE_DEX_LATENCY_SCALE", cls.dex_latency_scale, float),
            "dex_failure_rate": _env("ORDER_ENGINE_DEX_FAILURE_RATE", cls.dex_failure_rate, float),
            "dex_seed": _env("ORDER_ENGINE_DEX_SEED", None),
            "dex_drift_bps": _env("ORDER_ENGINE_DEX_DRIFT_BPS", cls.dex_drift_bps, float),
            "dex_drift_mean_bps": _env("ORDER_ENGINE_DEX_DRIFT_MEAN_BPS", cls.dex_drift_mean_bps, float),
            "market_depth_scale": _env("ORDER_ENGINE_MARKET_DEPTH_SCALE", cls.market_depth_scale, float),
            "market_volatility_bps": _env("ORDER_ENGINE_MARKET_VOLATILITY_BPS", cls.market_volatility_bps, float),
            "market_tick_s": _env("ORDER_ENGINE_MARKET_TICK_S", cls.market_tick_s, float),
            "log_level": _env("ORDER_ENGINE_LOG_LEVEL", cls.log_level).upper(),
            "log_json": _env("ORDER_ENGINE_LOG_JSON", None, bool),
            "data_dir": Path(_env("ORDER_ENGINE_DATA_DIR", ".data")),
            "web_ui": _env("ORDER_ENGINE_WEB_UI", True, bool),
            "rate_limit": _env("ORDER_ENGINE_RATE_LIMIT", cls.rate_limit, int),
            "rate_limit_window_s": _env("ORDER_ENGINE_RATE_LIMIT_WINDOW_S", cls.rate_limit_window_s, int),
            "recovery_interval_s": _env("ORDER_ENGINE_RECOVERY_INTERVAL_S", cls.recovery_interval_s, float),
            "recovery_stale_after_s": _env("ORDER_ENGINE_RECOVERY_STALE_AFTER_S", cls.recovery_stale_after_s, float),
            "admin_token": _env("ORDER_ENGINE_ADMIN_TOKEN", None),
            "allow_unguarded_bind": _env("ORDER_ENGINE_ALLOW_UNGUARDED_BIND", False, bool),
            "api_rate_limit_per_min": _env("ORDER_ENGINE_API_RATE_LIMIT_PER_MIN", cls.api_rate_limit_per_min, int),
            "ws_max_connections": _env("ORDER_ENGINE_WS_MAX_CONNECTIONS", cls.ws_max_connections, int),
            "ws_max_per_order": _env("ORDER_ENGINE_WS_MAX_PER_ORDER", cls.ws_max_per_order, int),
            "ws_resync_s": _env("ORDER_ENGINE_WS_RESYNC_S", cls.ws_resync_s, float),
            "ws_ping_interval_s": _env("ORDER_ENGINE_WS_PING_INTERVAL_S", cls.ws_ping_interval_s, float),
            "ws_ping_timeout_s": _env("ORDER_ENGINE_WS_PING_TIMEOUT_S", cls.ws_ping_timeout_s, float),
            "http_keep_alive_s": _env("ORDER_ENGINE_HTTP_KEEP_ALIVE_S", cls.http_keep_alive_s, int),
            "http_fast_accept": _env("ORDER_ENGINE_HTTP_FAST_ACCEPT", True, bool),
            "api_db_pool_size": _env("ORDER_ENGINE_API_DB_POOL_SIZE", cls.api_db_pool_size, int),
            "loop_lag_warn_ms": _env("ORDER_ENGINE_LOOP_LAG_WARN_MS", cls.loop_lag_warn_ms, float),
            "limit_max_age_s": _env("ORDER_ENGINE_LIMIT_MAX_AGE_S", cls.limit_max_age_s, float),
            "sniper_max_age_s": _env("ORDER_ENGINE_SNIPER_MAX_AGE_S", cls.sniper_max_age_s, float),
            "sniper_concurrency": _env("ORDER_ENGINE_SNIPER_CONCURRENCY", cls.sniper_concurrency, int),
            "sniper_turn_wait_s": _env("ORDER_ENGINE_SNIPER_TURN_WAIT_S", cls.sniper_turn_wait_s, float),
            "launch_fee_decay_s": _env("ORDER_ENGINE_LAUNCH_FEE_DECAY_S", cls.launch_fee_decay_s, float),
            "market_launch_every_s": _env("ORDER_ENGINE_MARKET_LAUNCH_EVERY_S", cls.market_launch_every_s, float),
            "sim_api": _env("ORDER_ENGINE_SIM_API", False, bool),
            "metrics": _env("ORDER_ENGINE_METRICS", True, bool),
            "metrics_port": _env("ORDER_ENGINE_METRICS_PORT", 0, int),
            "metrics_host": _env("ORDER_ENGINE_METRICS_HOST", cls.metrics_host),
            "group_commit": _env("ORDER_ENGINE_GROUP_COMMIT", True, bool),
        }
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if not 0 <= self.dex_failure_rate <= 1:
            raise ValueError("ORDER_ENGINE_DEX_FAILURE_RATE must be between 0 and 1")
        if self.market_depth_scale <= 0:
            raise ValueError("ORDER_ENGINE_MARKET_DEPTH_SCALE must be > 0")
        if not 0 <= self.market_volatility_bps <= MAX_VOLATILITY_BPS:
            raise ValueError(f"ORDER_ENGINE_MARKET_VOLATILITY_BPS must be between 0 and {MAX_VOLATILITY_BPS:g}")
        if not MIN_TICK_S <= self.market_tick_s <= MAX_TICK_S:
            raise ValueError(f"ORDER_ENGINE_MARKET_TICK_S must be between {MIN_TICK_S:g} and {MAX_TICK_S:g}")
        if self.dex_latency_scale < 0:
            raise ValueError("ORDER_ENGINE_DEX_LATENCY_SCALE must be >= 0")
        if self.rate_limit < 0 or self.rate_limit_window_s < 1:
            raise ValueError("ORDER_ENGINE_RATE_LIMIT must be >= 0 (0 = off) and its window >= 1 s")
        if self.api_db_pool_size < 1:
            raise ValueError("ORDER_ENGINE_API_DB_POOL_SIZE must be >= 1")
        if self.ws_ping_interval_s <= 0 or self.ws_ping_timeout_s <= 0:
            raise ValueError("ORDER_ENGINE_WS_PING_INTERVAL_S and ORDER_ENGINE_WS_PING_TIMEOUT_S must be > 0")
        if self.http_keep_alive_s < 1:
            raise ValueError("ORDER_ENGINE_HTTP_KEEP_ALIVE_S must be >= 1")
        if self.limit_max_age_s <= 0:
            raise ValueError("ORDER_ENGINE_LIMIT_MAX_AGE_S must be > 0")
        if self.sniper_max_age_s <= 0 or self.launch_fee_decay_s < 0:
            raise ValueError("ORDER_ENGINE_SNIPER_MAX_AGE_S must be > 0 and ORDER_ENGINE_LAUNCH_FEE_DECAY_S >= 0")
        if self.market_launch_every_s < 0:
            raise ValueError("ORDER_ENGINE_MARKET_LAUNCH_EVERY_S must be >= 0 (0 = never)")
        if self.sniper_concurrency < 1:
            raise ValueError("ORDER_ENGINE_SNIPER_CONCURRENCY must be >= 1")
        if self.sniper_turn_wait_s <= 0:
            raise ValueError("ORDER_ENGINE_SNIPER_TURN_WAIT_S must be > 0")
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError("ORDER_ENGINE_METRICS_PORT must be a TCP port (0 = none)")
        if self.worker_concurrency < 1 or self.max_attempts < 1:
            raise ValueError("worker concurrency and max attempts must be >= 1")

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            raise ValueError("DATABASE_URL is not set")
        return asyncpg_url(self.database_url)

    @property
    def job_timeout_total_s(self) -> int:
        """An attempt may first wait up to about a rate-limit window for its turn."""
        return self.job_timeout_s + (2 * self.rate_limit_window_s if self.rate_limit else 0)

    @property
    def retry_delay_base_s(self) -> float:
        """Backoff base, scaled with the DEX latency so fast test runs retry fast too."""
        return self.retry_base_s * self.dex_latency_scale

    def as_env(self) -> dict[str, str]:
        """These settings as environment variables, for child processes."""
        names = {
            "database_url": "DATABASE_URL",
            "redis_url": "REDIS_URL",
            "data_dir": "ORDER_ENGINE_DATA_DIR",
        }
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            name = names.get(f.name, f"ORDER_ENGINE_{f.name.upper()}")
            env[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return env
