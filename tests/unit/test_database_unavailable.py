"""Which database errors are an outage (503) and which are bugs (500)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from order_engine.adapters.sql.database import is_unavailable


class DriverError(Exception):
    """Stands in for SQLAlchemy's asyncpg adaptor error, which carries the server's SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def error(sqlstate: str | None, message: str = "boom") -> DBAPIError:
    return DBAPIError("INSERT …", None, DriverError(message, sqlstate))


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("57P03", "the database system is shutting down"),
        ("57P03", "the database system is starting up"),
        ("57P01", "terminating connection due to administrator command"),
        ("57P02", "terminating connection because of crash of another server process"),
        ("08006", "connection failure"),
        ("08001", "could not connect"),
        ("53300", "sorry, too many clients already"),
    ],
)
def test_server_going_away_is_unavailable(sqlstate: str, message: str) -> None:
    assert is_unavailable(error(sqlstate, message))


@pytest.mark.parametrize("sqlstate", ["23505", "42P01", "22P02", "57014", None])
def test_statement_errors_are_not(sqlstate: str | None) -> None:
    assert not is_unavailable(error(sqlstate))


def test_operational_errors_and_invalidated_connections_are_unavailable() -> None:
    assert is_unavailable(OperationalError("SELECT 1", None, DriverError("gone", None)))
    assert is_unavailable(DBAPIError("SELECT 1", None, DriverError("gone", None), connection_invalidated=True))
