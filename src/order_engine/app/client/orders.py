"""`order-engine submit | watch | orders | cancel | quote`: a client of a running engine's public API.

    order-engine submit SOL USDC 1.5 [--slippage-bps 50] [--follow] [--json]
    order-engine submit SOL USDC 2 --type limit --limit-price 160 [--tif GTD --expires 2h]
    order-engine submit SOL PEPE2 0.5 --type sniper --slippage-bps 1500 [--venue raydium] [--min-liquidity 20]
    order-engine watch ID        order-engine orders [--status S] [--type T] [--limit N]
    order-engine cancel ID       order-engine quote SOL USDC 1.5

Exit codes: 0 confirmed (or accepted, without --follow; done, for the others); 1 failed; 3 cancelled or expired;
2 a usage error or a 4xx answer; 4 the engine unreachable, 429 or 5xx; 130 interrupted (Ctrl-C: the order itself
keeps going). An error prints the API's own message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from order_engine.app.client.common import (
    EXIT_ENDED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_connection_arguments,
    answer,
    moment,
    report,
    with_client,
)
from order_engine.app.client.follow import follow
from order_engine.app.client.http import ApiError, EngineClient, Unreachable
from order_engine.app.client.timeline import Timeline
from order_engine.app.settings import Settings

OUTCOME_EXIT = {"confirmed": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_ENDED, "expired": EXIT_ENDED}


def add_order_commands(commands: Any) -> None:
    submit = commands.add_parser(
        "submit",
        help="submit an order to a running engine (and --follow it live)",
        description="Submit an order: sell AMOUNT of TOKEN_IN for TOKEN_OUT.",
    )
    submit.add_argument("token_in", metavar="TOKEN_IN", help="e.g. SOL")
    submit.add_argument("token_out", metavar="TOKEN_OUT", help="e.g. USDC, or a sniper's token-to-be")
    submit.add_argument("amount", metavar="AMOUNT", help='a plain decimal, e.g. "1.5"')
    submit.add_argument("--type", dest="order_type", choices=("market", "limit", "sniper"), default="market")
    submit.add_argument("--slippage-bps", type=int, help="market and sniper orders (default 50)")
    submit.add_argument("--limit-price", help="limit orders: the worst effective price (TOKEN_OUT per TOKEN_IN)")
    submit.add_argument("--tif", choices=("GTC", "GTD", "IOC"), help="limit orders' time in force (GTD with --expires)")
    submit.add_argument("--expires", metavar="WHEN", help="a duration (90s, 2h, 1d) or an RFC 3339 time")
    submit.add_argument("--venue", choices=("any", "raydium", "meteora"), help="snipers: the venue to fire on")
    submit.add_argument("--min-liquidity", help="snipers: the least the new pool must hold on TOKEN_IN's side")
    submit.add_argument("--allow-mint-authority", action="store_true", help="snipers: fire even if it is kept")
    submit.add_argument("--allow-freeze-authority", action="store_true", help="snipers: fire even if it is kept")
    submit.add_argument("--idempotency-key", metavar="KEY", help="the same key and body answer the same order")
    submit.add_argument("--follow", action="store_true", help="then show its live timeline until it ends")
    _output_arguments(submit)
    submit.set_defaults(func=cmd_submit)

    watch = commands.add_parser("watch", help="an order's live timeline, from its first status, until it ends")
    watch.add_argument("order_id", metavar="ID")
    _output_arguments(watch)
    watch.set_defaults(func=cmd_watch)

    orders = commands.add_parser("orders", help="the newest orders")
    orders.add_argument("--status", help="only those in this status")
    orders.add_argument("--type", dest="order_type", choices=("market", "limit", "sniper"))
    orders.add_argument("--limit", type=int, default=20, help="how many (default 20, at most 100)")
    _output_arguments(orders)
    orders.set_defaults(func=cmd_orders)

    cancel = commands.add_parser("cancel", help="cancel an order that has not started executing")
    cancel.add_argument("order_id", metavar="ID")
    _output_arguments(cancel)
    cancel.set_defaults(func=cmd_cancel)

    quote = commands.add_parser("quote", help="what each venue would give now (nothing is written)")
    quote.add_argument("token_in", metavar="TOKEN_IN")
    quote.add_argument("token_out", metavar="TOKEN_OUT")
    quote.add_argument("amount", metavar="AMOUNT")
    _output_arguments(quote)
    quote.set_defaults(func=cmd_quote)


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable: one JSON object per line")
    add_connection_arguments(parser)


def _console() -> Console:
    """Rich's console; piped or redirected, it does not wrap at 80 columns (ids and hashes stay whole)."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


def order_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST body the arguments ask for; ValueError naming the argument that is wrong."""
    body: dict[str, Any] = {
        "tokenIn": args.token_in,
        "tokenOut": args.token_out,
        "amountIn": args.amount,
        "orderType": args.order_type,
    }
    if args.slippage_bps is not None:
        body["slippageBps"] = args.slippage_bps
    if args.limit_price is not None:
        body["limitPrice"] = args.limit_price
    tif = args.tif
    if args.expires is not None:
        try:
            body["expiresAt"] = moment(args.expires)
        except ValueError:
            raise ValueError(
                f"--expires must be a duration (90s, 2h, 1d) or an RFC 3339 time with its offset, got {args.expires!r}"
            ) from None
        if args.order_type == "limit" and tif is None:
            tif = "GTD"  # an expiry is what GTD means
    if tif is not None:
        body["timeInForce"] = tif
    if args.venue is not None or args.min_liquidity is not None:
        body["trigger"] = {
            "event": "pool_created",
            "venue": args.venue or "any",
            **({"minLiquidity": args.min_liquidity} if args.min_liquidity is not None else {}),
        }
    if args.allow_mint_authority or args.allow_freeze_authority:
        body["safety"] = {
            "requireMintAuthorityRevoked": not args.allow_mint_authority,
            "requireFreezeAuthorityRevoked": not args.allow_freeze_authority,
        }
    return body


def cmd_submit(settings: Settings, args: argparse.Namespace) -> int:
    try:
        body = order_body(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def run(client: EngineClient) -> int:
        accepted, code = answer(lambda: client.submit(body, idempotency_key=args.idempotency_key))
        if accepted is None:
            return code
        order_id = accepted["orderId"]
        if args.json:
            print(json.dumps({"type": "accepted", **accepted}), flush=True)
        else:
            _console().print(
                f"[bold]{accepted['orderType']} order {order_id}[/] accepted: {accepted['status']}", highlight=False
            )
        if not args.follow:
            if not args.json:
                print(f"watch it: order-engine watch {order_id}")
            return EXIT_OK
        return _follow(client, order_id, args.json)

    return with_client(settings, args, run)


def cmd_watch(settings: Settings, args: argparse.Namespace) -> int:
    return with_client(settings, args, lambda client: _follow(client, args.order_id, args.json))


def _follow(client: EngineClient, order_id: str, as_json: bool) -> int:
    timeline = Timeline(_console(), as_json=as_json)

    async def run() -> int:
        async for message in follow(
            client.url,
            order_id,
            headers=client.auth_headers,
            on_reconnect=lambda last, why: timeline.note(f"{why}; reconnecting from seq {last}"),
        ):
            timeline.show(message)
        return OUTCOME_EXIT.get(timeline.last_status or "", EXIT_FAILED)

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        timeline.close()
        print(
            f"\ninterrupted: order {order_id} keeps going ({timeline.last_status or 'status unknown'});"
            f" follow it again with: order-engine watch {order_id}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (ApiError, Unreachable) as exc:
        timeline.close()
        return report(exc)
    finally:
        timeline.close()


def cmd_orders(settings: Settings, args: argparse.Namespace) -> int:
    def run(client: EngineClient) -> int:
        page, code = answer(lambda: client.orders(status=args.status, order_type=args.order_type, limit=args.limit))
        if page is None:
            return code
        if args.json:
            for order in page["orders"]:
                print(json.dumps(order, separators=(",", ":")))
            return EXIT_OK
        table = Table("order", "type", "pair", "amount in", "status", "venue", "out / reason", "created")
        table.columns[0].no_wrap = True
        for o in page["orders"]:
            outcome = (
                o.get("amountOut") or o.get("failureReason") or (o.get("limitPrice") and f"limit {o['limitPrice']}")
            )
            table.add_row(
                o["orderId"],
                o["orderType"],
                f"{o['tokenIn']}→{o['tokenOut']}",
                o["amountIn"],
                o["status"],
                o.get("dexUsed") or "",
                outcome or "",
                o["createdAt"],
            )
        _console().print(table)
        return EXIT_OK

    return with_client(settings, args, run)


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    def run(client: EngineClient) -> int:
        order, code = answer(lambda: client.cancel(args.order_id))
        if order is None:
            return code
        if args.json:
            print(json.dumps(order, separators=(",", ":")))
        else:
            print(f"order {order['orderId']}: {order['status']}")
        return EXIT_OK

    return with_client(settings, args, run)


def cmd_quote(settings: Settings, args: argparse.Namespace) -> int:
    def run(client: EngineClient) -> int:
        quote, code = answer(lambda: client.quote(args.token_in, args.token_out, args.amount))
        if quote is None:
            return code
        if args.json:
            print(json.dumps(quote, separators=(",", ":")))
            return EXIT_OK
        table = Table(
            "venue", "amount out", "effective price", "mid price", "fee", "impact %",
            title=f"{quote['amountIn']} {quote['tokenIn']} → {quote['tokenOut']}",
        )  # fmt: skip
        for q in quote["quotes"]:
            best = " ← best" if q["venue"] == quote["best"] else ""
            table.add_row(
                f"{q['venue']}{best}",
                q["amountOut"],
                q["effectivePrice"],
                q["price"],
                q["feeRate"],
                q["priceImpactPct"],
            )
        _console().print(table)
        return EXIT_OK

    return with_client(settings, args, run)
