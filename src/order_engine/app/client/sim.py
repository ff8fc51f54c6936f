"""`order-engine sim …`: steer the simulation of a running engine through its /api/sim routes.

    order-engine sim move SOL/USDC --to 160 [--venue raydium] [--url URL] [--admin-token T]
    order-engine sim move SOL/USDC --by-bps 500
    order-engine sim launch PEPE2 --venue raydium --quote SOL --price 0.000001 --liquidity 50 [--opens-in 30s]

Exit codes: 0 done; 2 a usage error or a 4xx answer (the API's message is printed); 4 the engine could not be
reached, or answered 429 or 5xx (worth trying again).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from order_engine.app.client.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_connection_arguments,
    answer,
    duration_s,
    with_client,
)
from order_engine.app.client.http import EngineClient
from order_engine.app.settings import Settings

SIM_OFF = " (is ORDER_ENGINE_SIM_API on for that engine?)"


def add_sim_commands(commands: Any) -> None:
    """Add `sim` and its subcommands to the `order-engine` parser's subcommands."""
    sim = commands.add_parser("sim", help="steer the market of a running engine (its /api/sim routes)")
    actions = sim.add_subparsers(dest="sim_command", required=True)
    move = actions.add_parser(
        "move",
        help="trade the pools until a pair's mid price is somewhere else",
        description="Move PAIR's mid price (in the pair as named: SOL/USDC is USDC per SOL) on every venue, or one.",
    )
    move.add_argument("pair", metavar="PAIR", help="BASE/QUOTE, e.g. SOL/USDC (USDC/SOL means its inverse)")
    target = move.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", dest="to_price", metavar="PRICE", help='the price to move to, e.g. "160"')
    target.add_argument("--by-bps", type=int, metavar="BPS", help="move by this many bps (500 = 5 %% up)")
    move.add_argument("--venue", help="raydium or meteora (default: every venue)")
    add_connection_arguments(move)
    move.set_defaults(func=cmd_sim_move)

    launch = actions.add_parser(
        "launch",
        help="launch a new token with its first pool (snipers waiting for it fire)",
        description="Register SYMBOL and create its pool on one venue against --quote, at --price (quote per token).",
    )
    launch.add_argument("symbol", metavar="SYMBOL", help="2-10 ASCII letters or digits, e.g. PEPE2")
    launch.add_argument("--venue", default="raydium", help="raydium (default) or meteora")
    launch.add_argument("--quote", default="SOL", help="the pool's other side: SOL (default), USDC or USDT")
    launch.add_argument("--price", required=True, help='quote per one token, e.g. "0.000001"')
    launch.add_argument("--liquidity", required=True, help='quote tokens on the pool\'s quote side, e.g. "50"')
    launch.add_argument("--decimals", type=int, default=6, help="the token's decimals (default 6)")
    launch.add_argument("--mint-authority-kept", action="store_true", help="do not revoke the mint authority")
    launch.add_argument("--freeze-authority-kept", action="store_true", help="do not revoke the freeze authority")
    opens = launch.add_mutually_exclusive_group()
    opens.add_argument("--opens-in", metavar="DURATION", help="tradable only after this long: 90s, 5m, 2h")
    opens.add_argument("--opens-at", metavar="TIME", help="tradable only from this RFC 3339 time")
    add_connection_arguments(launch)
    launch.set_defaults(func=cmd_sim_launch)


def cmd_sim_launch(settings: Settings, args: argparse.Namespace) -> int:
    opens_at = args.opens_at
    if args.opens_in is not None:
        try:
            opens_at = (datetime.now(UTC) + timedelta(seconds=duration_s(args.opens_in))).isoformat()
        except ValueError:
            print(f"error: --opens-in must be a duration such as 90s, 5m or 2h, got {args.opens_in!r}", file=sys.stderr)
            return EXIT_USAGE
    body = {
        "symbol": args.symbol,
        "venue": args.venue,
        "quoteToken": args.quote,
        "initialPrice": args.price,
        "liquidity": args.liquidity,
        "decimals": args.decimals,
        "mintAuthorityRevoked": not args.mint_authority_kept,
        "freezeAuthorityRevoked": not args.freeze_authority_kept,
        "opensAt": opens_at,
    }
    return with_client(settings, args, lambda client: run_launch(client, body))


def run_launch(client: EngineClient, body: dict[str, Any]) -> int:
    launched, code = answer(lambda: client.launch(body), not_found_hint=SIM_OFF)
    if launched is None:
        return code
    opening = f", opens {launched['opensAt']}" if launched.get("opensAt") else ""
    print(
        f"launched {launched['symbol']} (mint {launched['mint']}): pool {launched['pool']} on {launched['venue']}{opening}"
    )
    return EXIT_OK


def cmd_sim_move(settings: Settings, args: argparse.Namespace) -> int:
    return with_client(settings, args, lambda client: run_move(client, args))


def run_move(client: EngineClient, args: argparse.Namespace) -> int:
    """The move, its lines on stdout (one per venue: before → after), or the error on stderr; the exit code."""
    moved, code = answer(
        lambda: client.move_market(args.pair, to_price=args.to_price, by_bps=args.by_bps, venue=args.venue),
        not_found_hint=SIM_OFF,
    )
    if moved is None:
        return code
    arrow = "→" if (sys.stdout.encoding or "").lower().replace("-", "").startswith("utf") else "->"
    for venue in moved["prices"]:
        print(f"{moved['pair']} {venue['venue']}: {venue['before']} {arrow} {venue['price']}")
    return EXIT_OK
