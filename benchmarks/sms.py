"""SMS through ``quecemu serve`` on a pty, as a host driver does it with pyserial.

* ``AT+CMGS=<length>`` in PDU mode: command, ``> `` prompt, PDU and Ctrl-Z, ``+CMGS`` and
  ``OK`` (the profile's simulated network delay set to 0: the emulator's own cost);
* ``AT+CMGW`` then ``AT+CMGR`` then ``AT+CMGD`` of one message in text mode (storage in NV
  memory, read back decoded);
* the PDU codec alone, in this process: encode an SMS-DELIVER and decode it again.

    python -m benchmarks.sms [--rounds 500]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import serial

from benchmarks._common import ServeChild, median, percentile, report
from emulator.sms.pdu import Address, SmsDeliver, SmsSubmit, Timestamp, decode_tpdu, split_text


def exchange(port: serial.Serial, data: bytes, until: bytes) -> bytes:
    port.write(data)
    answer: bytes = port.read_until(until)
    if not answer.endswith(until):
        raise RuntimeError(f"no {until!r} after {data!r}: {answer!r}")
    return answer


def timed(rounds: int, step: object) -> list[float]:
    assert callable(step)
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        step()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def summary(name: str, what: str, times: list[float]) -> None:
    med, p99 = median(times), percentile(times, 0.99)
    report(name, f"{what}: median {med:.3f} ms, p99 {p99:.3f} ms", median_ms=med, p99_ms=p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    tpdu = SmsSubmit(
        reference=0,
        destination=Address.parse("+8613700001111"),
        user_data=split_text("Benchmark message, 40 characters long.", 1)[0],
    ).encode()
    pdu = b"00" + tpdu.hex().upper().encode()
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "bench-sms.json"
        profile.write_text(json.dumps({"extends": "EC200U", "sms": {"send_delay_ms": 0}}))
        with ServeChild("--profile", str(profile), "--link", str(Path(tmp) / "ttyQ")) as child:
            (module,) = child.wait_ready()
            port = serial.Serial(module["link"], 115200, timeout=5)
            exchange(port, b"ATE0\r", b"OK\r\n")
            exchange(port, b"AT+CMGF=0\r", b"OK\r\n")

            def send() -> None:
                exchange(port, f"AT+CMGS={len(tpdu)}\r".encode(), b"> ")
                exchange(port, pdu + b"\x1a", b"OK\r\n")

            timed(20, send)
            summary("sms_cmgs_pdu", "AT+CMGS (PDU) to +CMGS/OK", timed(args.rounds, send))
            exchange(port, b"AT+CMGF=1\r", b"OK\r\n")

            def store_read_delete() -> None:
                exchange(port, b'AT+CMGW="10086"\r', b"> ")
                answer = exchange(port, b"stored for the benchmark\x1a", b"OK\r\n")
                index = answer.split(b"+CMGW: ")[1].split(b"\r")[0].decode()
                exchange(port, f"AT+CMGR={index}\r".encode(), b"OK\r\n")
                exchange(port, f"AT+CMGD={index}\r".encode(), b"OK\r\n")

            summary(
                "sms_store_read_delete",
                "AT+CMGW, AT+CMGR, AT+CMGD of one message",
                timed(args.rounds, store_read_delete),
            )
            port.close()
            child.stop()
    stamp = Timestamp(2026, 11, 27, 18, 40, 5, 32)
    text = "A delivered message with an € and [brackets] to decode."

    def codec() -> None:
        (ud,) = split_text(text, 1)
        deliver = SmsDeliver(
            originator=Address.parse("+8613912345678"), timestamp=stamp, user_data=ud
        )
        decode_tpdu(deliver.encode())

    timed(200, codec)
    summary("sms_pdu_codec", "SMS-DELIVER encode + decode", timed(args.rounds * 4, codec))


if __name__ == "__main__":
    main()
