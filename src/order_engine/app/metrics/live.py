"""The live streams' meter: sockets open and status messages sent, by route (`watch`, `execute`), in the API."""

from __future__ import annotations

from typing import Any, Protocol

from order_engine.app.metrics.catalog import WS_ROUTES, EngineMetrics
from order_engine.app.metrics.coalesce import Coalescer


class StreamMeter(Protocol):
    def opened(self, route: str) -> None: ...
    def closed(self, route: str) -> None: ...
    def sent(self, route: str) -> None: ...


class NoMeter:
    """Metrics off (ORDER_ENGINE_METRICS=false)."""

    def opened(self, route: str) -> None:
        pass

    def closed(self, route: str) -> None:
        pass

    def sent(self, route: str) -> None:
        pass


class PrometheusStreamMeter:
    """Sockets open are written at once (they are few); messages sent, one per status per subscriber, through the
    coalescer (`metrics_listener`'s, in the processes)."""

    def __init__(self, metrics: EngineMetrics, coalescer: Coalescer | None = None) -> None:
        self._c = coalescer or Coalescer(every_s=0)
        self._open: dict[str, Any] = {r: metrics.child(metrics.ws_open, r) for r in WS_ROUTES}
        self._sent: dict[str, Any] = {r: metrics.child(metrics.ws_sent, r) for r in WS_ROUTES}

    def opened(self, route: str) -> None:
        self._open[route].inc()

    def closed(self, route: str) -> None:
        self._open[route].dec()

    def sent(self, route: str) -> None:
        self._c.inc(self._sent[route])
