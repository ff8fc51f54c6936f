"""The engine's HTTP API from the outside (httpx): one method per call, errors as exceptions the CLI maps to exit
codes. Bodies are JSON; amounts and prices stay the decimal strings the API sends."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 10.0


class ApiError(Exception):
    """The API answered with an error status: its message (`detail`) and the field it names, if any."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.field = field

    @property
    def retryable(self) -> bool:
        """429 and 5xx: the request may succeed later, unchanged. Other 4xx: the request itself is wrong."""
        return self.status == 429 or self.status >= 500


class Unreachable(Exception):
    """No answer: refused, reset, timed out, or no such host."""


class EngineClient:
    def __init__(
        self,
        url: str,
        *,
        admin_token: str | None = None,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.auth_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=self.auth_headers, timeout=timeout_s, transport=transport)

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._http.close()

    def submit(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """POST /api/orders/execute: `{"orderId", "status", "orderType", "wsUrl"}`."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._call("POST", "/api/orders/execute", json=body, headers=headers)

    def order(self, order_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/orders/{order_id}")

    def orders(self, *, status: str | None = None, order_type: str | None = None, limit: int = 20) -> dict[str, Any]:
        """GET /api/orders: `{"orders": [...], "nextCursor"}`, newest first."""
        params = {"status": status, "orderType": order_type, "limit": limit}
        return self._call("GET", "/api/orders", params={k: v for k, v in params.items() if v is not None})

    def cancel(self, order_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/orders/{order_id}/cancel")

    def quote(self, token_in: str, token_out: str, amount_in: str) -> dict[str, Any]:
        params = {"tokenIn": token_in, "tokenOut": token_out, "amountIn": amount_in}
        return self._call("GET", "/api/market/quote", params=params)

    def move_market(
        self, pair: str, *, to_price: str | None = None, by_bps: int | None = None, venue: str | None = None
    ) -> dict[str, Any]:
        """POST /api/sim/market/move: `{"pair", "at", "prices": [{"venue", "before", "price"}]}`."""
        body: dict[str, Any] = {"pair": pair, "venue": venue}
        body.update({"toPrice": to_price} if to_price is not None else {"byBps": by_bps})
        return self._post("/api/sim/market/move", body)

    def launch(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/sim/launches: `{"symbol", "mint", "venue", "pool", "opensAt"}`."""
        return self._post("/api/sim/launches", body)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, json=body)

    def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.url}: {exc or type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise _error(response)
        result: dict[str, Any] = response.json()
        return result


def _error(response: httpx.Response) -> ApiError:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and isinstance(problem.get("detail"), str):
        field = problem.get("field")
        return ApiError(response.status_code, problem["detail"], field if isinstance(field, str) else None)
    return ApiError(response.status_code, response.text.strip()[:500] or response.reason_phrase)
