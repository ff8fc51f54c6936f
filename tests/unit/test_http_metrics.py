"""The request metrics' cheaper middleware counts exactly what Litestar's own does: the same series, labels and
counts for the same requests (route templates, status codes, 5xx errors, nothing left in progress), once its
coalescer has written them."""

from __future__ import annotations

from litestar import Litestar, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from order_engine.app.metrics.coalesce import shared_coalescer
from order_engine.app.metrics.http import CachedLabelsMiddleware


@post("/api/orders/{orderId:str}/cancel")
async def cancel(orderId: FromPath[str]) -> dict[str, str]:
    if orderId == "missing":
        raise NotFoundException("order not found")
    return {"orderId": orderId}


@get("/boom")
async def boom() -> None:
    raise RuntimeError("a bug")


def series(prefix: str, middleware: type[PrometheusMiddleware]) -> dict[str, float]:
    config = PrometheusConfig(app_name="t", prefix=prefix, group_path=True, middleware_class=middleware)
    app = Litestar([cancel, boom], middleware=[config.middleware], logging_config=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        for order_id in ("a", "b", "missing"):
            client.post(f"/api/orders/{order_id}/cancel")
        client.get("/boom")
    shared_coalescer().flush()  # what the running process does once a second
    out = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name.startswith(prefix) and not sample.name.endswith(("_sum", "_created")):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
                le = sample.labels.get("le")
                if le is None or le == "+Inf":
                    out[f"{sample.name.removeprefix(prefix)}{{{labels}}}"] = sample.value
    return out


def test_the_cached_middleware_records_what_litestars_does():
    theirs = series("t_litestar", PrometheusMiddleware)
    ours = series("t_cached", CachedLabelsMiddleware)
    assert ours == theirs
    assert ours["_requests_total{app_name=t,method=POST,path=/api/orders/{orderId}/cancel,status_code=201}"] == 2
    assert ours["_requests_total{app_name=t,method=POST,path=/api/orders/{orderId}/cancel,status_code=404}"] == 1
    assert ours["_requests_error_total{app_name=t,method=GET,path=/boom,status_code=500}"] == 1
    assert ours["_requests_in_progress{app_name=t,method=POST,path=/api/orders/{orderId}/cancel,status_code=200}"] == 0
