"""Socket throughput through the module's TCP/IP AT commands, as a host's driver sees it.

``quecemu serve`` (a pty, as a user would run it) opens a TCP connection to a peer on
loopback (written here, plain blocking sockets in a thread), then:

1. ``upload``: the host sends ``--bytes`` with ``AT+QISEND=0,1460`` (the profile's largest
   send), one command at a time: ``> `` prompt, data, ``SEND OK``; timed until the peer has
   every byte. Median and p99 of one AT+QISEND (command line to SEND OK).
2. ``download``: the peer sends ``--bytes``; the host reads them with ``AT+QIRD=0,1500``
   (buffer access mode), waiting for ``+QIURC: "recv",0`` whenever a read comes back empty.
   Median and p99 of one non-empty AT+QIRD.
3. ``push``: the same download with the socket in direct push mode (the data arrives in
   ``+QIURC: "recv",0,<len>`` URCs, no command).
4. ``transparent``: the socket in transparent access mode (``CONNECT``): the host writes
   ``--bytes`` raw and the peer counts them (upload), then the peer sends ``--bytes`` and
   the host reads them raw (download).

Each runs as fast as the pty goes, then with ``serve --baud 115200`` (module output paced
like a UART at 10 bits per byte: 11,520 bytes/s at most) with ``--baud-bytes``; the share of
that line rate reached is reported (for the download and push; ``--baud`` paces the
module's output, not the host's input). For scale, the same transfer in the same 1460-byte
writes over a plain loopback socket (no module in between) gives the ratio.

    python -m benchmarks.socket_bench [--bytes 1048576] [--baud-bytes 65536]
                                      [--what upload|download|push|transparent|all]
                                      [--no-baud]
"""

from __future__ import annotations

import argparse
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

import serial

from benchmarks._common import ServeChild, median, percentile, report

SEND_CHUNK = 1460  # the EC200U profile's max_send
READ_CHUNK = 1500  # its max_read
QIRD = re.compile(rb"\+QIRD: (\d+)\r\n")
PUSH = re.compile(rb'\+QIURC: "recv",0,(\d+)\r\n')
RECV_URC = b'+QIURC: "recv",0\r\n'
SENT = re.compile(rb"\+QISEND: \d+,\d+,(\d+)\r\n")  # total, acknowledged, unacknowledged
SEND_BUFFER = 65536  # the EC200U profile's send_buffer
BAUD = 115200


class Peer:
    """A TCP peer on loopback: counts what arrives, sends a block on request."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.conn: socket.socket | None = None
        self.received = 0
        self.got_all = threading.Event()
        self.expect = 0
        self.connected = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        conn, _ = self.listener.accept()
        self.conn = conn
        self.connected.set()
        while data := conn.recv(65536):
            self.received += len(data)
            if self.expect and self.received >= self.expect:
                self.got_all.set()

    def await_bytes(self, total: int, timeout: float) -> None:
        self.expect = total
        if self.received >= total:
            self.got_all.set()
        if not self.got_all.wait(timeout):
            raise SystemExit(f"the peer got {self.received} of {total} bytes in {timeout} s")

    def send(self, total: int) -> None:
        assert self.conn is not None
        block = bytes(i & 0xFF for i in range(total))
        threading.Thread(target=self.conn.sendall, args=(block,), daemon=True).start()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


class Host:
    """The host side of the AT port: a byte buffer and reads until a pattern."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.buffer = bytearray()

    def fill(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            tail = bytes(self.buffer[-200:])
            raise SystemExit(f"the module did not answer in time; last bytes {tail!r}")
        self.buffer += self.port.read(max(1, self.port.in_waiting))

    def until(self, marker: bytes, timeout: float = 30.0) -> bytes:
        """Everything up to and including ``marker`` (taken from the buffer)."""
        deadline = time.monotonic() + timeout
        while (at := self.buffer.find(marker)) < 0:
            self.fill(deadline)
        taken = bytes(self.buffer[: at + len(marker)])
        del self.buffer[: at + len(marker)]
        return taken

    def exactly(self, count: int, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < count:
            self.fill(deadline)
        taken = bytes(self.buffer[:count])
        del self.buffer[:count]
        return taken

    def command(self, line: str, marker: bytes = b"OK\r\n") -> bytes:
        self.port.write(line.encode() + b"\r")
        return self.until(marker)


def open_socket(host: Host, peer: Peer, mode: int) -> None:
    host.command("ATE0")
    host.command("AT+QIACT=1")
    answer = b"CONNECT\r\n" if mode == 2 else b"+QIOPEN: 0,0\r\n"
    host.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{peer.port},0,{mode}', answer)
    if not peer.connected.wait(10):
        raise SystemExit("the module did not connect to the peer")


def upload(host: Host, peer: Peer, total: int) -> tuple[float, list[float], int]:
    """As a driver does it: on SEND FAIL (the module's send buffer is full of bytes the
    peer has not acknowledged) ask AT+QISEND=0,0 until half of it is free, then retry."""
    chunk = bytes(i & 0xFF for i in range(SEND_CHUNK))
    times: list[float] = []
    refused = 0
    start = time.perf_counter()
    sent = 0
    while sent < total:
        size = min(SEND_CHUNK, total - sent)
        began = time.perf_counter()
        host.port.write(f"AT+QISEND=0,{size}\r".encode())
        host.until(b"> ")
        host.port.write(chunk[:size])
        result = host.until(b"\r\n", 30) + host.until(b"\r\n", 30)
        if b"SEND FAIL" in result:
            refused += 1
            while True:
                answer = host.command("AT+QISEND=0,0")
                found = SENT.search(answer)
                if found is None:
                    raise SystemExit(f"AT+QISEND=0,0 answered {answer!r}")
                if int(found.group(1)) <= SEND_BUFFER // 2:
                    break
            continue
        if b"SEND OK" not in result:
            raise SystemExit(f"AT+QISEND answered {result!r}")
        times.append(time.perf_counter() - began)
        sent += size
    peer.await_bytes(total, 120)
    return time.perf_counter() - start, times, refused


def download(host: Host, peer: Peer, total: int) -> tuple[float, list[float], int]:
    times: list[float] = []
    start = time.perf_counter()
    peer.send(total)
    got = 0
    while got < total:
        began = time.perf_counter()
        host.port.write(f"AT+QIRD=0,{READ_CHUNK}\r".encode())
        deadline = time.monotonic() + 30
        while (match := QIRD.search(host.buffer)) is None:
            host.fill(deadline)
        length = int(match.group(1))  # before the buffer (the match's subject) changes
        del host.buffer[: match.end()]
        host.exactly(length)
        host.until(b"OK\r\n")
        if length:
            times.append(time.perf_counter() - began)
            got += length
        elif got < total:
            host.until(RECV_URC)  # read empty: the next arrival is announced once
    return time.perf_counter() - start, times, 0


def push(host: Host, peer: Peer, total: int) -> tuple[float, list[float], int]:
    start = time.perf_counter()
    peer.send(total)
    got = 0
    deadline = time.monotonic() + 120
    while got < total:
        while (match := PUSH.search(host.buffer)) is None:
            host.fill(deadline)
        length = int(match.group(1))  # before the buffer (the match's subject) changes
        del host.buffer[: match.end()]
        host.exactly(length, 30)
        got += length
    return time.perf_counter() - start, [], 0


def transparent(host: Host, peer: Peer, total: int) -> tuple[float, list[float], int]:
    """Raw bytes both ways after CONNECT; the time of the round (upload then download)."""
    block = bytes(i & 0xFF for i in range(65536))
    start = time.perf_counter()
    sent = 0
    while sent < total:
        size = min(len(block), total - sent)
        host.port.write(block[:size])
        sent += size
    peer.await_bytes(total, 120)
    up = time.perf_counter() - start
    start = time.perf_counter()
    peer.send(total)
    host.exactly(total, 120)
    down = time.perf_counter() - start
    return up + down, [up, down], 0


def plain_loopback(total: int, rounds: int = 5) -> float:
    """The same bytes in the same 1460-byte writes over a plain loopback socket, no module
    in between (median of ``rounds``): the floor of any transfer here."""
    times: list[float] = []
    chunk = bytes(SEND_CHUNK)
    for _ in range(rounds):
        peer = Peer()
        with socket.create_connection(("127.0.0.1", peer.port)) as sock:
            start = time.perf_counter()
            for sent in range(0, total, SEND_CHUNK):
                sock.sendall(chunk[: min(SEND_CHUNK, total - sent)])
            peer.await_bytes(total, 60)
            times.append(time.perf_counter() - start)
        peer.close()
    return median(times)


def run(what: str, total: int, baud: int | None, profile: list[str], tmp: Path) -> None:
    extra = ["--baud", str(baud)] if baud else []
    mode = {"push": 1, "transparent": 2}.get(what, 0)
    with ServeChild(*profile, "--link", str(tmp / f"{what}-{baud}"), *extra) as child:
        (module,) = child.wait_ready()
        peer = Peer()
        with serial.Serial(module["link"], 115200, timeout=1) as port:
            host = Host(port)
            open_socket(host, peer, mode)
            measure = {
                "upload": upload,
                "download": download,
                "push": push,
                "transparent": transparent,
            }[what]
            seconds, times, refused = measure(host, peer, total)
            if what == "transparent":
                seconds = times[1]  # the download, as for the other modes; upload below
            if what != "transparent":  # the port carries the link until +++: serve stops
                host.command("AT+QICLOSE=0")
        peer.close()
        child.stop()
    rate = total / seconds
    line = "unpaced" if baud is None else f"--baud {baud}"
    fields: dict[str, object] = {
        "bytes": total,
        "seconds": round(seconds, 3),
        "kib_per_s": round(rate / 1024, 1),
        "baud": baud,
    }
    text = f"{what} {total} bytes ({line}): {rate / 1024:.1f} KiB/s"
    if baud and what == "upload":
        text += " (--baud paces the module's output only: the host's bytes are not slowed)"
    elif baud:
        share = rate / (baud / 10)
        fields["line_rate_share"] = round(share, 3)
        text += f" ({share * 100:.0f} % of the line's {baud // 10} bytes/s)"
    else:
        floor = plain_loopback(total)
        fields["plain_socket_ratio"] = round(seconds / floor, 1)
        text += f"; {seconds / floor:.0f}x a plain loopback socket's time"
    if what == "transparent":
        up_rate = total / times[0]
        fields.update(upload_kib_per_s=round(up_rate / 1024, 1))
        text = f"transparent {total} bytes ({line}): download {rate / 1024:.1f} KiB/s" + text[
            text.index(" KiB/s") + len(" KiB/s") :
        ]
        text += f"; upload {up_rate / 1024:.1f} KiB/s"
    elif times:
        command = "AT+QISEND" if what == "upload" else "AT+QIRD"
        med, p99 = median(times) * 1000, percentile(times, 0.99) * 1000
        fields.update(command_median_ms=round(med, 3), command_p99_ms=round(p99, 3))
        text += f"; one {command} median {med:.2f} ms, p99 {p99:.2f} ms"
    if what == "upload":
        fields["send_fail"] = refused
        text += f"; {refused} SEND FAIL (send buffer full) waited out"
    report(f"socket_{what}" + ("_baud" if baud else ""), text, **fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--what", choices=("upload", "download", "push", "transparent", "all"), default="all"
    )
    parser.add_argument("--bytes", type=int, default=1 << 20, help="bytes per unpaced run")
    parser.add_argument(
        "--baud-bytes", type=int, default=1 << 16, help="bytes per run with --baud 115200"
    )
    parser.add_argument("--no-baud", action="store_true", help="skip the --baud 115200 runs")
    args = parser.parse_args()
    profile = ["--model", "EC200U"]
    kinds = (
        ("upload", "download", "push", "transparent") if args.what == "all" else (args.what,)
    )
    with tempfile.TemporaryDirectory(prefix="bench-socket-") as folder:
        for kind in kinds:
            run(kind, args.bytes, None, profile, Path(folder))
        if not args.no_baud:
            for kind in kinds:
                run(kind, args.baud_bytes, BAUD, profile, Path(folder))


if __name__ == "__main__":
    main()
