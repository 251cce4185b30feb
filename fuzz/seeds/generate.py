#!/usr/bin/env python3
"""Writes the seed corpus of the ws-core fuzz targets into fuzz/seeds/<target>/.

Run from anywhere: python3 fuzz/seeds/generate.py. The seeds are small valid
inputs (the RFC 6455 section 5.7 example frames, an RFC 6455 section 1.2
upgrade request) that give the fuzzer a head start; the files are committed,
this script only documents and regenerates them.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def mask(payload, key=KEY):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload, fin=True, key=KEY):
    """A client frame: masked unless key is None, minimal length form."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if key is not None else 0
    n = len(payload)
    if n <= 125:
        head = bytes([first, mask_bit | n])
    elif n <= 0xFFFF:
        head = bytes([first, mask_bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack(">Q", n)
    if key is None:
        return head + payload
    return head + key + mask(payload, key)


def write(target, name, data):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# RFC 6455 section 5.7 examples, byte for byte.
HELLO_UNMASKED = bytes.fromhex("810548656c6c6f")
HELLO_MASKED = bytes.fromhex("818537fa213d7f9f4d5158")
FRAGMENT_1 = bytes.fromhex("010348656c")
FRAGMENT_2 = bytes.fromhex("80026c6f")
PING_UNMASKED = bytes.fromhex("890548656c6c6f")
PONG_MASKED = bytes.fromhex("8a8537fa213d7f9f4d5158")
BINARY_256 = bytes.fromhex("827e0100")
BINARY_64K = bytes.fromhex("827f0000000000010000")

for name, data in [
    ("rfc-hello-unmasked", HELLO_UNMASKED),
    ("rfc-hello-masked", HELLO_MASKED),
    ("rfc-fragment-1", FRAGMENT_1),
    ("rfc-fragment-2", FRAGMENT_2),
    ("rfc-ping", PING_UNMASKED),
    ("rfc-pong-masked", PONG_MASKED),
    ("rfc-binary-256", BINARY_256),
    ("rfc-binary-64k", BINARY_64K),
    ("masked-64k-header", bytes.fromhex("82ff0000000000010000") + KEY),
]:
    write("frame_header", name, data)

# connection: byte 0 = 0x00 (one chunk-size byte follows), then the size
# byte (0x00 = 1-byte reads, 0x7f = 128-byte reads, 0x80 = 512-byte reads),
# then the client's byte stream.
streams = {
    "rfc-hello-masked": HELLO_MASKED,
    "rfc-pong-masked": PONG_MASKED,
    "ping-then-close": frame(0x9, b"Hello") + frame(0x8, struct.pack(">H", 1000) + b"bye"),
    "fragmented-text-with-ping": frame(0x1, "κό".encode()[:3], fin=False)
    + frame(0x9, b"")
    + frame(0x0, "κόσμε".encode()[3:], fin=True),
    "binary-256": frame(0x2, bytes(range(256))),
    "close-empty": frame(0x8, b""),
    "unmasked-hello": HELLO_UNMASKED,
}
for name, stream in streams.items():
    write("connection", name + "-128", b"\x00\x7f" + stream)
    write("connection", name + "-1", b"\x00\x00" + stream)
write("connection", "binary-256-512-7", b"\x01\x80\x06" + streams["binary-256"])
# Byte 0 bit 3: Config::fail_fast_utf8 off.
write("connection", "fragmented-text-late-utf8-check", b"\x08\x02" + streams["fragmented-text-with-ping"])

# deflate: byte 0 the negotiated parameters, byte 1 level and threshold,
# byte 2 the read size, then messages: a flags byte (bit 0 text, bit 1 ping
# first, bits 2-3: 0 literal with a length byte, 1 repeated pattern, 2 noise,
# with a two-byte length), then the payload's bytes.
write("deflate", "defaults-hello", b"\x01\x41\x7f" + b"\x01\x05hello" + b"\x00\x03abc")
write("deflate", "takeover-repeated-text", b"\xfc\x19\x10" + b"\x05\x10\x00\x03" + b"\x07\x01\x00\x02")
write("deflate", "window-8-noise", b"\x00\x01\x80" + b"\x08\x20\x00\x2a" + b"\x09\x00\x80\x07")

# handshake: the RFC 6455 section 1.2 client request, variants, and an
# extension list on its own.
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
write("handshake", "rfc-request", RFC_REQUEST)
write(
    "handshake",
    "extensions-and-query",
    RFC_REQUEST.replace(b"GET /chat ", b"GET /chat?room=caf%C3%A9+x&y ").replace(
        b"\r\n\r\n",
        b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits,"
        b' x-webkit-deflate-frame; a="b"\r\n\r\n',
    ),
)
write("handshake", "pipelined-frame", RFC_REQUEST + HELLO_MASKED)
write("handshake", "version-8-absolute", RFC_REQUEST.replace(b"GET /chat", b"GET http://h/chat").replace(b"Version: 13", b"Version: 8"))
write("handshake", "bad-version", RFC_REQUEST.replace(b"Version: 13", b"Version: 12"))
write("handshake", "extension-list", b"permessage-deflate; client_max_window_bits=10; server_no_context_takeover, permessage-deflate")
