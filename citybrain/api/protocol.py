"""HTTP/1.1 on the wire, bounded: uvicorn's httptools protocol with limits that an ASGI
middleware cannot set, because they apply before a request exists.

- A request's line and headers may take at most ``CITYBRAIN_MAX_HEADER_KB`` (431 past it):
  counted on the raw bytes as they arrive, so an 8 MB ``Authorization`` is refused after
  16 KB, not read whole and then checked.
- They must arrive within ``CITYBRAIN_HEADER_TIMEOUT_S`` of the connection opening (or of the
  request's first byte on a kept-alive connection): a client that sends one byte every two
  seconds gets 408 and is closed (slowloris).
- A body must keep coming: at least ``BODY_MIN_BYTES`` in every ``CITYBRAIN_BODY_TIMEOUT_S``
  until it is complete (408 otherwise), which a large upload on a slow link meets and a body
  dripped a byte at a time does not. While the application itself is not reading (flow
  control has paused the socket), the clock does not run against the client.

Both server ports use it (``api.server``), and so do the tests' servers.
"""

from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BODY_MIN_BYTES = 1024


def _response(status: int, reason: str, code: str, detail: str) -> bytes:
    body = orjson.dumps({"code": code, "detail": detail})
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("ascii") + body


class BoundedHttp(HttpToolsProtocol):
    """uvicorn's protocol with the header size, header time and body rate limits above
    (``max_header_bytes``, ``header_timeout_s``, ``body_timeout_s`` set on the class by
    :func:`bounded_protocol`)."""

    max_header_bytes = 16 * 1024
    header_timeout_s = 10.0
    body_timeout_s = 10.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True  # between requests and while a request's headers arrive
        self._header_bytes = 0
        self._body_bytes = 0  # since the body timer was last armed
        self._timer: asyncio.TimerHandle | None = None

    # --- the header phase ----------------------------------------------------------------------

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, self._headers_too_slow)

    def data_received(self, data: bytes) -> None:
        if not self._in_headers:
            return super().data_received(data)
        room = self.max_header_bytes - self._header_bytes
        if len(data) <= room:
            self._header_bytes += len(data)
            return super().data_received(data)
        # Past the limit unless the headers end within it: feed what fits, and see.
        self._header_bytes = self.max_header_bytes
        super().data_received(data[:room])
        if self._in_headers:
            self._refuse(
                431,
                "Request Header Fields Too Large",
                "header_too_large",
                f"the request line and headers are larger than {self.max_header_bytes // 1024} "
                "KB (CITYBRAIN_MAX_HEADER_KB)",
            )
            return None
        if not self.transport.is_closing():
            return super().data_received(data[room:])
        return None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # (a kept-alive connection's next request)
            self._arm(self.header_timeout_s, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        super().on_headers_complete()
        if self._expects_body():
            self._body_bytes = 0
            self._arm(self.body_timeout_s, self._body_check)

    def _expects_body(self) -> bool:
        for name, value in self.headers:
            if name == b"content-length":
                return value.strip() not in (b"", b"0")
            if name == b"transfer-encoding":
                return True
        return False

    def _headers_too_slow(self) -> None:
        self._timer = None
        if self._in_headers and not self.transport.is_closing():
            self._refuse(
                408,
                "Request Timeout",
                "request_timeout",
                f"the request's headers did not arrive within {self.header_timeout_s:g} s "
                "(CITYBRAIN_HEADER_TIMEOUT_S)",
            )

    # --- the body phase ------------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_headers, self._header_bytes = True, 0  # the next request's headers
        super().on_message_complete()

    def _body_check(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self._in_headers:
            return
        if self._body_bytes >= BODY_MIN_BYTES or self.flow.read_paused:
            self._body_bytes = 0  # (paused: the application is slow, not the client)
            self._arm(self.body_timeout_s, self._body_check)
            return
        detail = (
            f"the request's body stalled: less than {BODY_MIN_BYTES} bytes in "
            f"{self.body_timeout_s:g} s (CITYBRAIN_BODY_TIMEOUT_S)"
        )
        if self.cycle is not None and not self.cycle.response_started:
            self._refuse(408, "Request Timeout", "request_timeout", detail)
        else:
            self.transport.close()

    # --- shared --------------------------------------------------------------------------------

    def _arm(self, seconds: float, callback) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, status: int, reason: str, code: str, detail: str) -> None:
        self._disarm()
        if self.cycle is not None:
            self.cycle.disconnected = True  # (an application reading the body stops)
        self.transport.write(_response(status, reason, code, detail))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def bounded_protocol(max_header_kb: int, header_timeout_s: float, body_timeout_s: float):
    """The protocol class for uvicorn's ``http=`` with these limits."""
    return type(
        "BoundedHttp",
        (BoundedHttp,),
        {
            "max_header_bytes": max_header_kb * 1024,
            "header_timeout_s": header_timeout_s,
            "body_timeout_s": body_timeout_s,
        },
    )


def uvicorn_options(settings) -> dict:
    """uvicorn's options for the wire limits of ``settings`` (both ports, the tests' servers)."""
    return {
        "http": bounded_protocol(
            settings.max_header_kb, settings.header_timeout_s, settings.body_timeout_s
        ),
    }
