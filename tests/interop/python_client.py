"""Interop: Python `websockets` (an independent implementation) against lariat's echo.

Usage: python3 python_client.py ws://127.0.0.1:PORT/

Each scenario negotiates permessage-deflate with different parameters (or
none), exchanges text and binary messages from 0 B to 16 MiB, fragmented and
not, then closes with a code the server must echo; one more lets the server
close (a message over the echo's 16 MiB limit: 1009). The last line is
"N passed, M failed".
"""

import asyncio
import json
import os
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

SIZES = [0, 1, 125, 126, 1024, 65535, 65536, 1 << 20, 4 << 20, 16 << 20]

SCENARIOS = {
    "no compression": None,
    "deflate defaults": ClientPerMessageDeflateFactory(client_max_window_bits=True),
    "no context takeover": ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True
    ),
    "max window bits 9": ClientPerMessageDeflateFactory(
        server_max_window_bits=9, client_max_window_bits=9
    ),
    "server window 8": ClientPerMessageDeflateFactory(server_max_window_bits=8),
}


def text_of(size):
    """Exactly `size` bytes of UTF-8 (the limits count bytes, not characters)."""
    row = json.dumps({"user": "ada", "text": "hello, κόσμε ✓", "n": 12345}, ensure_ascii=False)
    data = (row.encode() * (size // len(row) + 1))[:size]
    text = data.decode(errors="ignore")
    return text + "." * (size - len(text.encode()))


async def scenario(url, factory):
    extensions = [factory] if factory else []
    async with websockets.connect(
        url, max_size=None, extensions=extensions, compression=None if not factory else "deflate"
    ) as ws:
        header = ws.response.headers.get("Sec-WebSocket-Extensions")
        if factory and not header:
            raise AssertionError("permessage-deflate was not accepted")
        if not factory and header:
            raise AssertionError(f"unexpected extension {header}")
        for size in SIZES:
            text = text_of(size)
            await ws.send(text)
            assert await ws.recv() == text, f"text {size}"
            data = os.urandom(size)
            await ws.send(data)
            assert await ws.recv() == data, f"binary {size}"
        # Fragmented: websockets sends an iterable as one fragmented message.
        parts = ["frag", "", "mented ", "κόσμε" * 1000]
        await ws.send(parts)
        assert await ws.recv() == "".join(parts), "fragmented text"
        await ws.send([b"\x00" * 70000, b"\xff" * 10])
        assert await ws.recv() == b"\x00" * 70000 + b"\xff" * 10, "fragmented binary"
        big = text_of(16 << 20)
        await ws.send([big[i : i + (1 << 20)] for i in range(0, len(big), 1 << 20)])
        assert await ws.recv() == big, "fragmented 16 MiB text"
        pong = await ws.ping(b"interop")
        await asyncio.wait_for(pong, 5)
        await ws.close(4000, "client says bye")
    assert ws.close_code == 4000, f"echoed close code {ws.close_code}"


async def server_closes_over_the_limit(url):
    """17 MiB exceeds the echo's 16 MiB limit: the server closes with 1009."""
    # No `async with`: its exit would close a connection the server already
    # closed, which websockets reports as an error of its own.
    ws = await websockets.connect(url, max_size=None, compression=None)
    try:
        await ws.send(b"\x00" * (17 << 20))
        await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1009, f"got {closed.rcvd}"
        return
    raise AssertionError("server did not close")


async def main(url):
    passed = failed = 0
    cases = [(name, scenario(url, factory)) for name, factory in SCENARIOS.items()]
    cases.append(("server closes with 1009 over the limit", server_closes_over_the_limit(url)))
    for name, case in cases:
        try:
            await asyncio.wait_for(case, 60)
            print(f"ok    python websockets: {name}")
            passed += 1
        except Exception as error:  # noqa: BLE001 - report every failure
            print(f"FAIL  python websockets: {name}: {error!r}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return failed == 0


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main(sys.argv[1])) else 1)
