#!/usr/bin/env python3
"""Counts the WebSocket frames a peer sends, for budgeting the per-peer rate limit.

A TCP relay: a node dials LISTEN instead of TARGET (a MiniLedger 0.2 node, say); every frame
TARGET sends is counted by message type, and the report gives the largest number of frames
in any sliding window of 10 ms, 100 ms and 1 s, the total and the largest frame.

    scripts/frame-capture.py LISTEN_PORT TARGET_HOST:TARGET_PORT SECONDS > report.json

Frames are read from the server side (unmasked, no extensions: neither MiniLedger 0.2's `ws`
server nor ours negotiates compression).
"""
import asyncio, collections, json, sys, time

events = []  # (time, type, bytes) of each frame TARGET sent


def parse_frames(buf):
    """Yields (opcode, fin, payload) and returns the unconsumed rest."""
    out = []
    while True:
        if len(buf) < 2:
            break
        b0, b1 = buf[0], buf[1]
        n, i = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, i = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, i = int.from_bytes(buf[2:10], "big"), 10
        if b1 & 0x80:
            i += 4  # masked (not expected from a server)
        if len(buf) < i + n:
            break
        out.append((b0 & 0x0F, bool(b0 & 0x80), bytes(buf[i : i + n])))
        buf = buf[i + n :]
    return out, buf


async def pipe(reader, writer, count):
    buf, upgraded, partial = bytearray(), not count, bytearray()
    try:
        while data := await reader.read(1 << 20):
            writer.write(data)
            await writer.drain()
            if not count:
                continue
            buf += data
            if not upgraded:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                buf, upgraded = buf[end + 4 :], True
            frames, rest = parse_frames(buf)
            buf = bytearray(rest)
            now = time.monotonic()
            for opcode, fin, payload in frames:
                if opcode in (1, 0):
                    partial += payload
                    if not fin:
                        continue
                    kind = "?"
                    try:
                        kind = json.loads(partial).get("type", "?")
                    except ValueError:
                        pass
                    events.append((now, kind, len(partial)))
                    partial = bytearray()
    finally:
        writer.close()


async def main():
    listen, target, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    host, port = target.rsplit(":", 1)

    async def relay(cr, cw):
        tr, tw = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(cr, tw, False), pipe(tr, cw, True))

    server = await asyncio.start_server(relay, "127.0.0.1", listen)
    async with server:
        await asyncio.sleep(seconds)
    times = [t for t, _, _ in events]

    def peak(window):
        best, j = 0, 0
        for i, t in enumerate(times):
            while times[j] < t - window:
                j += 1
            best = max(best, i - j + 1)
        return best

    by_type = collections.Counter(k for _, k, _ in events)
    report = {
        "frames": len(events),
        "byType": dict(by_type),
        "peak10ms": peak(0.01),
        "peak100ms": peak(0.1),
        "peak1s": peak(1.0),
        "maxFrameBytes": max((b for _, _, b in events), default=0),
        "seconds": seconds,
    }
    print(json.dumps(report))


asyncio.run(main())
