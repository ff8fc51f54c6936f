"""An order's statuses as a terminal timeline (rich): one line per status with the time since the first one and what
matters in it, a spinner on the stage under way; or, with `--json`, one JSON object per status."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status

COLOURS = {
    "pending": "grey62",
    "waiting": "cyan",
    "triggered": "magenta",
    "routing": "blue",
    "building": "blue",
    "submitted": "yellow",
    "confirmed": "bold green",
    "failed": "bold red",
    "cancelled": "dark_orange",
    "expired": "dark_orange",
}
UNDER_WAY = {
    "pending": "queued: waiting for a worker",
    "waiting": "resting: waiting for its condition",
    "triggered": "triggered: waiting for a worker",
    "routing": "building the swap",
    "building": "sending the swap",
    "submitted": "waiting for confirmation",
}


def _short(text: str, keep: int = 12) -> str:
    return text if len(text) <= keep + 3 else f"{text[:keep]}…"


def describe(message: dict[str, Any]) -> str:
    """What a status message says, in one line (plain text)."""
    status, meta = message["status"], message.get("metadata") or {}
    if "retryInS" in meta:
        return (
            f"retry: attempt {meta['attempt']}/{meta['maxAttempts']} failed at {meta['stage']} ({meta['error']}); "
            f"next in {meta['retryInS']:g}s"
        )
    match status:
        case "pending":
            return "accepted"
        case "waiting":
            parts = [f"arm {meta.get('arm', 1)}"]
            if "limitPrice" in meta:
                parts.append(f"limit {meta['limitPrice']}")
            if "bestEffectivePrice" in meta:
                parts.append(f"best now {meta['bestEffectivePrice']}")
            if "reason" in meta:
                parts.append(meta["reason"])
            return ", ".join(parts)
        case "triggered":
            pool = f" (pool {meta['pool']}, liquidity {meta['liquidity']})" if "pool" in meta else ""
            return f"on {meta.get('venue')} at {meta.get('effectivePrice')}{pool}"
        case "routing":
            quotes = ", ".join(f"{q['venue']} {q['amountOut']}" for q in meta.get("quotes", []))
            down = "".join(
                f"; {venue} unavailable ({error})" for venue, error in (meta.get("unavailable") or {}).items()
            )
            return f"{meta.get('chosen')}: {meta.get('reason')} [quotes: {quotes}{down}]"
        case "building":
            return (
                f"{meta.get('dexUsed')}: min out {meta.get('minAmountOut')} (expected {meta.get('expectedAmountOut')}), "
                f"blockhash {_short(str(meta.get('recentBlockhash', '')))}"
            )
        case "submitted":
            found = " (found on chain: sent by an earlier attempt)" if meta.get("foundOnChain") else ""
            return f"tx {meta.get('txHash')}{found}"
        case "confirmed":
            return (
                f"{meta.get('amountOut')} out at {meta.get('executedPrice')}, slot {meta.get('slot')}, "
                f"tx {_short(str(meta.get('txHash', '')))}"
            )
        case "failed":
            return f"[{meta.get('failureClass', 'error')}] {meta.get('reason')} (after {meta.get('attempts')} attempts)"
        case "cancelled" | "expired":
            return str(meta.get("reason", status))
    return json.dumps(meta)


def _at(message: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(message.get("timestamp", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


class Timeline:
    """Prints an order's statuses as they come; `--json` prints each message as one line instead."""

    def __init__(self, console: Console, *, as_json: bool = False) -> None:
        self.console = console
        self.as_json = as_json
        self.first: datetime | None = None
        self.last_status: str | None = None
        self._spinner: Status | None = None

    def show(self, message: dict[str, Any]) -> None:
        self.last_status = message["status"]
        if self.as_json:
            print(json.dumps(message, separators=(",", ":")), flush=True)
            return
        at = _at(message)
        self.first = self.first or at
        elapsed = f"+{(at - self.first).total_seconds():7.3f}s" if at and self.first else " " * 9
        status = message["status"]
        colour = COLOURS.get(status, "white")
        self.console.print(
            f"[dim]{elapsed}[/]  [dim]#{message.get('seq', '?'):<2}[/] [{colour}]{status:<10}[/] {escape(describe(message))}",
            highlight=False,
            soft_wrap=True,
        )
        self._spin(UNDER_WAY.get(status))

    def note(self, text: str) -> None:
        """A line about the stream itself (a reconnection), on stderr in JSON mode."""
        if self.as_json:
            print(json.dumps({"type": "note", "detail": text}), flush=True)
        else:
            self.console.print(f"[dim]… {escape(text)}[/]", highlight=False)

    def _spin(self, text: str | None) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        if text is not None and self.console.is_terminal:
            self._spinner = self.console.status(text)
            self._spinner.start()

    def close(self) -> None:
        self._spin(None)
