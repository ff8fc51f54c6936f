"""Which database errors are an outage (503, retry later) and which are bugs (500)."""

from __future__ import annotations

import asyncpg
import pytest
from asyncpg import exceptions as pg

from order_engine.adapters.sql.database import is_unavailable


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (pg.CannotConnectNowError, "the database system is shutting down"),
        (pg.CannotConnectNowError, "the database system is starting up"),
        (pg.AdminShutdownError, "terminating connection due to administrator command"),
        (pg.CrashShutdownError, "terminating connection because of crash of another server process"),
        (pg.ConnectionFailureError, "connection failure"),
        (pg.ClientCannotConnectError, "could not connect"),
        (pg.TooManyConnectionsError, "sorry, too many clients already"),
    ],
)
def test_server_going_away_is_unavailable(cls: type[asyncpg.PostgresError], message: str) -> None:
    assert is_unavailable(cls(message))


@pytest.mark.parametrize(
    "cls",
    [pg.UniqueViolationError, pg.UndefinedTableError, pg.InvalidTextRepresentationError, pg.QueryCanceledError],
)
def test_statement_errors_are_not(cls: type[asyncpg.PostgresError]) -> None:
    assert not is_unavailable(cls("boom"))


def test_client_side_misuse_is_not() -> None:
    assert not is_unavailable(asyncpg.InterfaceError("cannot perform operation: another operation is in progress"))


def test_lost_refused_and_timed_out_connections_are_unavailable() -> None:
    assert is_unavailable(pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert is_unavailable(ConnectionRefusedError(111, "Connect call failed"))
    assert is_unavailable(TimeoutError())


def test_a_connection_cut_off_mid_protocol_is_unavailable() -> None:
    # Seen under a PostgreSQL fast shutdown: the FATAL arrived, the socket's EOF had not yet.
    assert is_unavailable(pg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"))
