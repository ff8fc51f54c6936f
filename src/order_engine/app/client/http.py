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
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s, transport=transport)

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._http.close()

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
        try:
            response = self._http.post(path, json=body)
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
