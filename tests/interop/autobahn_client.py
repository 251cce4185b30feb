"""Interop: the `autobahn` asyncio client (an independent implementation, the
one behind the Autobahn testsuite) against lariat's echo.

Usage: python3 autobahn_client.py ws://127.0.0.1:PORT/

Each scenario offers permessage-deflate differently (or not at all), as the
Autobahn 12.x/13.x cases do, exchanges text and binary messages from 0 B to
16 MiB, whole and fragmented, checks a ping, and closes with a code the
server must echo; one more lets the server close (a message over the echo's
16 MiB limit: 1009). The last line is "N passed, M failed".
"""

import asyncio
import os
import sys
from urllib.parse import urlparse

from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]

# (name, offers): the client offers of Autobahn's 13.1-13.7 and none.
SCENARIOS = [
    ("no compression", []),
    ("deflate, default offer (13.1)", [PerMessageDeflateOffer()]),
    (
        "no context takeover (13.2)",
        [PerMessageDeflateOffer(request_no_context_takeover=True)],
    ),
    # Autobahn's cases offered 8; autobahn itself now refuses to offer less
    # than 9 (zlib cannot compress with 8).
    ("server window 9 (13.3)", [PerMessageDeflateOffer(request_max_window_bits=9)]),
    ("server window 15 (13.4)", [PerMessageDeflateOffer(request_max_window_bits=15)]),
    (
        "no context takeover, server window 9 (13.5)",
        [PerMessageDeflateOffer(request_no_context_takeover=True, request_max_window_bits=9)],
    ),
    (
        "three offers (13.7)",
        [
            PerMessageDeflateOffer(request_no_context_takeover=True, request_max_window_bits=9),
            PerMessageDeflateOffer(request_no_context_takeover=True),
            PerMessageDeflateOffer(),
        ],
    ),
]


def text_of(size):
    row = '{"user":"ada","text":"hello, κόσμε ✓","n":12345}'.encode()
    data = (row * (size // len(row) + 1))[:size]
    # Cut at a code point boundary, then pad with ASCII to the exact size.
    while True:
        try:
            data.decode()
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return data + b"." * (size - len(data))


def accept(response):
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


class Client(WebSocketClientProtocol):
    """Queues what arrives; the scenario awaits it."""

    def onConnect(self, response):
        self.events = asyncio.Queue()
        self.closed = asyncio.get_running_loop().create_future()

    def onOpen(self):
        self.factory.opened.set_result(self)

    def onMessage(self, payload, isBinary):
        self.events.put_nowait(("message", payload, isBinary))

    def onPong(self, payload):
        self.events.put_nowait(("pong", payload, None))

    def onClose(self, wasClean, code, reason):
        if not self.factory.opened.done():
            self.factory.opened.set_exception(ConnectionError(f"closed {code} {reason}"))
        if hasattr(self, "closed") and not self.closed.done():
            self.closed.set_result((wasClean, code, reason))


async def connect(url, offers):
    parsed = urlparse(url)
    factory = WebSocketClientFactory(url)
    factory.protocol = Client
    factory.setProtocolOptions(
        perMessageCompressionOffers=offers,
        perMessageCompressionAccept=accept,
        maxFramePayloadSize=0,
        maxMessagePayloadSize=0,
    )
    loop = asyncio.get_running_loop()
    factory.opened = loop.create_future()
    await loop.create_connection(factory, parsed.hostname, parsed.port)
    return await asyncio.wait_for(factory.opened, 10)


async def next_event(ws):
    event = asyncio.ensure_future(ws.events.get())
    done, _ = await asyncio.wait({event, ws.closed}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if event in done:
        return event.result()
    event.cancel()
    if ws.closed in done:
        raise AssertionError(f"the server closed while a message was expected: {ws.closed.result()}")
    raise AssertionError("timed out waiting for a message")


async def echo(ws, payload, binary, fragment_size=None):
    ws.sendMessage(payload, isBinary=binary, fragmentSize=fragment_size)
    kind, got, got_binary = await next_event(ws)
    what = f"{'binary' if binary else 'text'} of {len(payload)} bytes"
    assert kind == "message", f"{what}: got a {kind}"
    assert got_binary == binary, f"{what}: came back as the other type"
    assert got == payload, f"{what}: came back changed ({len(got)} bytes)"


async def scenario(url, offers):
    ws = await connect(url, offers)
    negotiated = ws._perMessageCompress is not None
    if bool(offers) != negotiated:
        raise AssertionError(f"offered {bool(offers)}, negotiated {negotiated}")
    for size in SIZES:
        await echo(ws, text_of(size), False)
        await echo(ws, os.urandom(size), True)
    # Fragmented: Autobahn's auto-fragment sizes (10.1.1, 12.x.11-18).
    for fragment in [64, 1300, 32768]:
        await echo(ws, text_of(200_000), False, fragment)
        await echo(ws, os.urandom(100_000), True, fragment)
    # Autobahn 12.x/13.x: runs of messages of each size, auto-fragmented
    # at their sizes, each sent after the previous echo.
    for i, size in enumerate([16, 64, 256, 1024, 4096, 16384, 65536, 131072]):
        fragment = [None, 256, 1024, 4096, 32768][i % 5]
        for n in range(20):
            await echo(ws, text_of(size + n), False, fragment)
    ws.sendPing(b"autobahn")
    kind, payload, _ = await next_event(ws)
    assert (kind, payload) == ("pong", b"autobahn"), f"got {kind} {payload!r}"
    ws.sendClose(code=4002, reason="autobahn says bye")
    was_clean, code, _ = await asyncio.wait_for(ws.closed, 10)
    assert was_clean, "the closing handshake was not clean"
    assert code == 4002, f"echoed close code {code}"


async def server_closes_over_the_limit(url):
    """17 MiB exceeds the echo's 16 MiB limit: the server closes with 1009."""
    ws = await connect(url, [])
    ws.sendMessage(b"\x00" * (17 << 20), isBinary=True)
    was_clean, code, reason = await asyncio.wait_for(ws.closed, 30)
    assert code == 1009, f"the server closed with {code} {reason!r}"


async def main(url):
    passed = failed = 0
    cases = [(name, scenario(url, offers)) for name, offers in SCENARIOS]
    cases.append(("server closes with 1009 over the limit", server_closes_over_the_limit(url)))
    for name, case in cases:
        try:
            await asyncio.wait_for(case, 90)
            print(f"ok    autobahn: {name}")
            passed += 1
        except Exception as error:  # noqa: BLE001 - report every failure
            print(f"FAIL  autobahn: {name}: {error!r}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return failed == 0


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main(sys.argv[1])) else 1)
