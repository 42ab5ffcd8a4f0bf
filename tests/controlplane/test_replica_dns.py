"""``serve --replica compose`` asks DNS for the container's name (a PTR query): against
Debian's dnsmasq on loopback, serving the names a compose network would."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.app.replica import ordinal_from_name, parse_ptr_answer, reverse_lookup


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[int]:
    if not Path(DNSMASQ).exists():
        pytest.skip("dnsmasq is not installed (make setup installs dnsmasq-base)")
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "172.18.0.5 quecemu-emulator-3.quecemu-default\n172.18.0.6 quecemu_emulator_12\n"
    )
    port = free_udp_port()
    process = subprocess.Popen(
        [
            DNSMASQ,
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            f"--addn-hosts={hosts}",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--pid-file=",
            "--user=root",
            "--log-facility=-",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60  # a loaded machine may take its time
        while True:  # ready when it answers (a query before it listens is lost: ask again)
            try:
                reverse_lookup("172.18.0.5", "127.0.0.1", port, timeout=0.2)
                break
            except (OSError, ValueError) as exc:
                if process.poll() is not None:
                    errors = process.stderr.read() if process.stderr else b""
                    raise AssertionError(f"dnsmasq ended: {errors!r}") from exc
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(5)
        if process.stderr is not None:
            process.stderr.close()


def test_the_container_number_comes_from_the_ptr_name(dns: int) -> None:
    name = reverse_lookup("172.18.0.5", "127.0.0.1", dns)
    assert name == "quecemu-emulator-3.quecemu-default"
    assert ordinal_from_name(name, first=1) == 2
    assert ordinal_from_name(reverse_lookup("172.18.0.6", "127.0.0.1", dns), first=1) == 11


def test_an_unknown_address_says_so(dns: int) -> None:
    with pytest.raises(ValueError, match=r"RCODE|no PTR record"):
        reverse_lookup("172.18.0.99", "127.0.0.1", dns)


def test_hostile_answers_are_refused_with_a_reason() -> None:
    header = bytes.fromhex("1234 8180 0000 0001 0000 0000".replace(" ", ""))
    loop = header + bytes.fromhex("c00c")  # an answer name pointing at itself
    with pytest.raises(ValueError, match="loops"):
        parse_ptr_answer(loop, 0x1234)
    with pytest.raises(ValueError, match="truncated"):
        parse_ptr_answer(header[:6], 0x1234)
    with pytest.raises(ValueError, match="another query"):
        parse_ptr_answer(header, 0x4321)
