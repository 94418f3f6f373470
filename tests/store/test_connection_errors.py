"""Which connection errors opening the store tries again (`connection_dropped`: the server
ended the session or refused it for now; `server_not_listening`: nothing at the address) and
which end it at once (a setting to fix). libpq gives a connection attempt's error no SQLSTATE:
these are its words and the server's, as libpq (fe-connect.c, fe-misc.c, fe-secure-openssl.c)
and the postmaster write them. The cases a test server produces for real (shutting down, no
socket, too many clients, recovery mode, wrong password, missing database) are also run end
to end in tests/backfill/test_database_restarts.py; the TLS ones need a TLS server."""

from __future__ import annotations

import psycopg
import pytest

from core.store.postgres import connection_dropped, server_not_listening

AT = 'connection failed: connection to server at "db.example.com" (10.0.0.5), port 5432 failed: '

DROPPED = [
    "terminating connection due to administrator command",
    "terminating connection because of crash of another server process",
    AT + "FATAL:  the database system is shutting down",
    AT + "FATAL:  the database system is starting up",
    AT + "FATAL:  the database system is in recovery mode",
    AT + "FATAL:  the database system is not yet accepting connections",
    AT + "FATAL:  the database system is not accepting connections",
    AT + "FATAL:  sorry, too many clients already",
    AT + "FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute",
    AT + 'FATAL:  too many connections for role "backfill"',
    "server closed the connection unexpectedly\n\tThis probably means the server terminated "
    "abnormally\n\tbefore or while processing the request.",
    "could not receive data from server: Connection reset by peer",
    "could not send data to server: Broken pipe",
    AT + "SSL SYSCALL error: EOF detected",
    "SSL connection has been closed unexpectedly",
    "consuming input failed: server closed the connection unexpectedly",
    "the connection is lost",
]
NOT_LISTENING = [
    AT + "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
    "connections?",
    'connection failed: connection to server on socket "/run/pg/.s.PGSQL.5432" failed: No such '
    "file or directory\n\tIs the server running locally and accepting connections on that socket?",
]
REFUSED = [
    AT + 'FATAL:  password authentication failed for user "backfill"',
    AT + 'FATAL:  database "nope" does not exist',
    AT + 'FATAL:  role "nobody" does not exist',
    AT + 'FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "backfill", database "b"',
    'connection failed: could not translate host name "db.example.invalid" to address: Name or '
    "service not known",
    AT + "server does not support SSL, but SSL was required",
    AT + "SSL error: certificate verify failed",
    AT + 'FATAL:  database "b" is not currently accepting connections',
    AT + "timeout expired",
]


@pytest.mark.parametrize("text", DROPPED)
def test_a_session_ended_or_refused_for_now_is_tried_again(text: str) -> None:
    assert connection_dropped(psycopg.OperationalError(text))
    assert not server_not_listening(psycopg.OperationalError(text))


@pytest.mark.parametrize("text", NOT_LISTENING)
def test_nothing_listening_is_its_own_kind(text: str) -> None:
    assert server_not_listening(psycopg.OperationalError(text))
    assert not connection_dropped(psycopg.OperationalError(text))


@pytest.mark.parametrize("text", REFUSED)
def test_a_setting_to_fix_is_neither(text: str) -> None:
    assert not connection_dropped(psycopg.OperationalError(text))
    assert not server_not_listening(psycopg.OperationalError(text))


def test_a_result_s_sqlstate_decides_without_words() -> None:
    assert connection_dropped(psycopg.errors.AdminShutdown("x"))
    assert connection_dropped(psycopg.errors.CrashShutdown("x"))
    assert connection_dropped(psycopg.errors.CannotConnectNow("x"))
    assert connection_dropped(psycopg.errors.TooManyConnections("x"))
    assert not connection_dropped(psycopg.errors.InvalidPassword("x"))
