"""A scripted fake module for the client_api tests: real bytes on a real pty (or TCP).

It frames its output the way the emulator's AT engine and Quectel hardware do
(``<CR><LF>text<CR><LF>``, echo of the raw command line, ``\\r\\nOK\\r\\n``), answers from a
table the test fills, records every byte the host sent, and can vanish and come back
(the pty closed, the ``--link`` symlink re-pointed to a new pty).
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import socket
import threading
import tty
from collections.abc import Callable
from pathlib import Path

Answer = bytes | None | Callable[[str], bytes | None]


def ok(*lines: str) -> bytes:
    """Information lines (if any) then OK, framed as the engine frames them."""
    body = ("\r\n" + "\r\n".join(lines) + "\r\n") if lines else ""
    return (body + "\r\nOK\r\n").encode()


def error() -> bytes:
    return b"\r\nERROR\r\n"


def cme(code: int | str) -> bytes:
    return f"\r\n+CME ERROR: {code}\r\n".encode()


def urc_bytes(text: str) -> bytes:
    return f"\r\n{text}\r\n".encode()


class FakeModule:
    """Answers AT commands on the master side of a pty (or a TCP connection)."""

    def __init__(
        self,
        *,
        echo: bool = True,
        link: Path | None = None,
        tcp: bool = False,
        urcs_before_echo: bool = False,
    ) -> None:
        self.echo = echo
        self.urcs_before_echo = urcs_before_echo
        # A reset answers OK, then the boot's RDY (python -m client_api run reboots first).
        self.answers: dict[str, Answer] = {"AT": ok(), "AT+CFUN=1,1": ok() + urc_bytes("RDY")}
        self.commands: queue.Queue[str] = queue.Queue()
        self._received = bytearray()
        self._line = bytearray()
        self._skip_lf = False
        self._held: list[bytes] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._link = link
        self._master: int | None = None
        self._slave: int | None = None
        self._server: socket.socket | None = None
        self._conn: socket.socket | None = None
        self.device = ""
        if tcp:
            self._server = socket.create_server(("127.0.0.1", 0))
            self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        else:
            self._open_pty()
            self.url = str(link) if link is not None else self.device
        self._thread = threading.Thread(target=self._serve, name="fake-module", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ scripting
    def answer(self, command: str, reply: Answer) -> None:
        self.answers[command] = reply

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def clear_received(self) -> None:
        with self._lock:
            self._received.clear()

    def next_command(self, timeout: float = 2.0) -> str:
        return self.commands.get(timeout=timeout)

    def send(self, data: bytes) -> None:
        """Raw bytes to the host, now."""
        self._write(data)

    def urc(self, text: str) -> None:
        """A URC: now, or (urcs_before_echo) just before the next command's echo."""
        if self.urcs_before_echo:
            with self._lock:
                self._held.append(urc_bytes(text))
            return
        self._write(urc_bytes(text))

    # ------------------------------------------------------------- vanish/return
    def vanish(self) -> None:
        """The module disappears: pty closed, link removed."""
        with self._lock:
            master, slave = self._master, self._slave
            self._master = self._slave = None
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
        if self._link is not None:
            with contextlib.suppress(FileNotFoundError):
                self._link.unlink()

    def come_back(self) -> None:
        """A new pty, and the link pointed at it (as a restarted emulator does)."""
        self._open_pty()

    def close(self) -> None:
        self._stop.set()
        self.vanish()
        for sock in (self._conn, self._server):
            if sock is not None:
                sock.close()
        self._thread.join(timeout=2)

    # ------------------------------------------------------------------- internals
    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw from the start: a cooked slave would echo our own output back to us.
        tty.setraw(slave)
        device = os.ttyname(slave)
        with self._lock:
            self._master, self._slave = master, slave
            self._line.clear()
            self._skip_lf = False
        self.device = device
        if self._link is not None:
            temporary = self._link.with_name(self._link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(device)
            temporary.rename(self._link)

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            if self._conn is not None:
                self._conn.sendall(data)
                return
            fd = self._master
            if fd is None:
                raise OSError("the fake module is gone")
            os.write(fd, data)

    def _serve(self) -> None:
        if self._server is not None:
            self._server.settimeout(0.1)
            while not self._stop.is_set() and self._conn is None:
                with contextlib.suppress(TimeoutError):
                    self._conn, _ = self._server.accept()
        while not self._stop.is_set():
            source: int | socket.socket | None = self._conn if self._conn else self._master
            if source is None:
                self._stop.wait(0.02)
                continue
            try:
                ready, _, _ = select.select([source], [], [], 0.05)
                if not ready:
                    continue
                if isinstance(source, socket.socket):
                    data = source.recv(4096)
                    if not data:
                        return
                else:
                    data = os.read(source, 4096)
            except (OSError, ValueError):
                continue  # vanished under us
            self._consume(data)

    def _consume(self, data: bytes) -> None:
        with self._lock:
            self._received += data
        for byte in data:
            if byte == 0x0A and self._skip_lf:
                self._skip_lf = False
                continue
            self._skip_lf = False
            if not self._line:
                with self._lock:
                    held, self._held = self._held, []
                for urc in held:
                    self._write(urc)
            if self.echo:
                self._write(bytes([byte]))
            if byte == 0x0D:
                self._skip_lf = True
                line = self._line.decode("ascii", "replace")
                self._line.clear()
                if line:
                    self._execute(line)
                continue
            self._line.append(byte)

    def _execute(self, line: str) -> None:
        self.commands.put(line)
        if line.upper() in ("ATE0", "ATE1"):
            self._write(ok())
            self.echo = line.endswith("1")
            return
        reply = self.answers.get(line, error())
        if callable(reply):
            reply = reply(line)
        if reply is not None:
            self._write(reply)
