"""A deadline for each request head, which uvicorn does not have.

uvicorn times out an idle keep-alive connection (`timeout_keep_alive`) and this server times out
a body that stops arriving (`protocol.read_json`), but nothing bounds the time a client may take
to send a request's line and headers: a connection that sends half a head and waits is held
forever, and `max_connections` of them shut everyone else out (503) for as long as they stay.
`head_deadline_protocol` gives uvicorn's h11 protocol that missing deadline: from a connection's
first byte of a request (or from its opening), the head must be complete within the timeout, or
the server answers 408 and closes the connection (a connection that sent nothing is closed
without a word, as an idle keep-alive connection is).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMEOUT_REPLY = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                  b"connection: close\r\ncontent-length: 41\r\n\r\n"
                  b"the request head did not arrive in time.\r\n")


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request heads (`head_timeout` seconds)."""

    head_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_task: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # bytes of a new request: its head is now due
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in (or the connection is done)
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.head_task is None:
            self.head_task = self.loop.call_later(self.head_timeout, self._overdue)

    def _disarm(self) -> None:
        if self.head_task is not None:
            self.head_task.cancel()
            self.head_task = None

    def _overdue(self) -> None:
        self.head_task = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self.conn.trailing_data[0]:  # part of a head came: say why (a silent one just closes)
                self.transport.write(_TIMEOUT_REPLY)
            self.transport.close()


def head_deadline_protocol(timeout: float) -> type[HeadDeadlineProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)` for a `timeout`-second head deadline."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout": float(timeout)})
