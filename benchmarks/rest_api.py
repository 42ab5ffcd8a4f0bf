"""The Leshan-style REST face of ``quecemu server --http``: read round trip and event latency.

Both the server and a virtual module run as child processes, as a user runs them
(``quecemu server --coap 127.0.0.1:0 --http 127.0.0.1:0`` and ``quecemu serve --tcp``); the
module registers through its AT port, then this process measures:

* ``read``: ``GET /api/clients/{ep}/3/0`` (HTTP → CoAP Read of the whole Device instance →
  TLV decoded → Leshan JSON → HTTP), one at a time over a kept-alive connection, next to
  ``GET /api/clients/{ep}`` (the HTTP part alone, no CoAP);
* ``event``: ``AT+QLWUPDATE`` written to the module until its ``UPDATED`` event arrives on a
  ``GET /api/event`` stream, and the same event measured against the moment the module's
  ``+QLWURC: "update"`` URC reached the AT port (negative: the event came first).

    .venv/bin/python -m benchmarks.rest_api --reads 500 --updates 100 [--browser]

``--browser`` adds the URC → ``UPDATED`` delay as a web page sees it: an ``EventSource`` in
headless Chromium stamps each event with ``performance.timeOrigin + performance.now()``,
compared with the wall-clock moment the URC reached the AT port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time

import aiohttp

from benchmarks._common import REPO

READY_TIMEOUT = 60.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 3),
        "p99_ms": round(percentile(values, 0.99) * 1000, 3),
        "min_ms": round(min(values) * 1000, 3),
        "max_ms": round(max(values) * 1000, 3),
    }


async def child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def lines_until_ready(process: asyncio.subprocess.Process) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(READY_TIMEOUT):
        while True:
            raw = await process.stdout.readline()
            if not raw:
                raise RuntimeError(f"{process} ended before ready: {lines}")
            line = raw.decode().strip()
            if line == "ready":
                return lines
            lines.append(line)


class AtPort:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def command(self, text: str) -> None:
        self.writer.write(text.encode() + b"\r")
        await self.until(b"OK\r\n")

    async def until(self, marker: bytes) -> float:
        """Read until ``marker``; the time its last byte arrived."""
        async with asyncio.timeout(READY_TIMEOUT):
            await self.reader.readuntil(marker)
        return time.perf_counter()


async def main(reads: int, updates: int) -> None:
    server = await child("server", "--coap", "127.0.0.1:0", "--http", "127.0.0.1:0")
    module = await child("serve", "--tcp", "127.0.0.1:0")
    try:
        urls = {
            line.split()[1]: line.split()[2]
            for line in await lines_until_ready(server)
            if line.startswith("listening ")
        }
        (module_line,) = [x for x in await lines_until_ready(module) if x.startswith("module ")]
        words = module_line.split()
        imei = words[words.index("IMEI") + 1]
        host, _, port = words[words.index("tcp") + 1].rpartition(":")
        endpoint = f"urn:imei:{imei}"
        at = AtPort(*await asyncio.open_connection(host, int(port)))
        await at.command(f'AT+QLWCFG="security",1,1000,"{urls["coap"]}",0,3')
        await at.command('AT+QLWCFG="server",1,300,1,60,86400,0,"U"')
        await at.command("AT+QLWREG")
        await at.until(b'+QLWURC: "ready","successfully",1000')

        http = urls["http"]
        async with aiohttp.ClientSession() as session:
            target = f"{http}/api/clients/{endpoint}/3/0"
            for _ in range(20):  # warm-up
                async with session.get(target) as answer:
                    assert answer.status == 200, await answer.text()
                    await answer.read()
            samples = []
            for _ in range(reads):
                start = time.perf_counter()
                async with session.get(target) as answer:
                    body = await answer.read()
                samples.append(time.perf_counter() - start)
                assert answer.status == 200 and b'"CONTENT"' in body, body[:200]
            read = summary(samples)
            print(f"REST read /3/0 ({reads} reads): median {read['median_ms']} ms, "
                  f"p99 {read['p99_ms']} ms")  # fmt: skip
            print(json.dumps({"benchmark": "rest_read_3_0", "reads": reads, **read}))
            # The HTTP part alone: a registration lookup, no CoAP exchange.
            http_only = []
            for _ in range(reads):
                start = time.perf_counter()
                async with session.get(f"{http}/api/clients/{endpoint}") as answer:
                    await answer.read()
                http_only.append(time.perf_counter() - start)
            lookup = summary(http_only)
            print(f"REST GET /api/clients/{{ep}} (HTTP only, {reads}): median "
                  f"{lookup['median_ms']} ms, p99 {lookup['p99_ms']} ms")  # fmt: skip
            print(json.dumps({"benchmark": "rest_client_lookup", "requests": reads, **lookup}))

            async with session.get(f"{http}/api/event?ep={endpoint}") as stream:
                assert stream.status == 200
                from_command, from_urc = [], []
                for _ in range(updates):
                    sent = time.perf_counter()
                    at.writer.write(b"AT+QLWUPDATE\r")
                    urc_task = asyncio.ensure_future(at.until(b'+QLWURC: "update"'))
                    async with asyncio.timeout(READY_TIMEOUT):
                        while True:
                            line = await stream.content.readline()
                            if line.startswith(b"event: UPDATED") or line.startswith(
                                b"event:UPDATED"
                            ):
                                arrived = time.perf_counter()
                                break
                    urc_at = await urc_task
                    from_command.append(arrived - sent)
                    from_urc.append(arrived - urc_at)
            command = summary(from_command)
            urc = {
                "median_ms": round(statistics.median(from_urc) * 1000, 3),
                "p99_ms": round(percentile(from_urc, 0.99) * 1000, 3),
            }
            print(f"AT+QLWUPDATE -> UPDATED on SSE ({updates}): median {command['median_ms']} ms,"
                  f" p99 {command['p99_ms']} ms; URC on the AT port -> SSE event: median "
                  f"{urc['median_ms']} ms, p99 {urc['p99_ms']} ms")  # fmt: skip
            print(json.dumps({"benchmark": "sse_update_latency", "updates": updates,
                              "from_command": command, "from_urc": urc}))  # fmt: skip
        at.writer.close()
    finally:
        for process in (module, server):
            if process.returncode is None:
                process.terminate()
            await process.wait()


async def browser(updates: int) -> None:
    """URC on the AT port → the UPDATED event inside headless Chromium (an EventSource on the
    page), both stamped on this machine's wall clock."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    server = await child("server", "--coap", "127.0.0.1:0", "--http", "127.0.0.1:0")
    module = await child("serve", "--tcp", "127.0.0.1:0")
    profile = tempfile.mkdtemp(prefix="quecemu-bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        urls = {
            line.split()[1]: line.split()[2]
            for line in await lines_until_ready(server)
            if line.startswith("listening ")
        }
        (module_line,) = [x for x in await lines_until_ready(module) if x.startswith("module ")]
        words = module_line.split()
        host, _, port = words[words.index("tcp") + 1].rpartition(":")
        at = AtPort(*await asyncio.open_connection(host, int(port)))
        await at.command(f'AT+QLWCFG="security",1,1000,"{urls["coap"]}",0,3')
        await at.command('AT+QLWCFG="server",1,300,1,60,86400,0,"U"')
        await at.command("AT+QLWREG")
        await at.until(b'+QLWURC: "ready","successfully",1000')
        await asyncio.to_thread(driver.get, urls["http"])
        await asyncio.to_thread(driver.execute_script, """
            window.seen = [];
            const stream = new EventSource('/api/event');
            stream.addEventListener('UPDATED',
                () => window.seen.push(performance.timeOrigin + performance.now()));
            window.opened = new Promise((ok) => { stream.onopen = ok; });
        """)  # fmt: skip
        await asyncio.to_thread(driver.execute_async_script,
                                "window.opened.then(arguments[arguments.length - 1])")  # fmt: skip
        deltas = []
        for index in range(updates):
            at.writer.write(b"AT+QLWUPDATE\r")
            await at.until(b'+QLWURC: "update"')
            urc_wall = time.time() * 1000
            async with asyncio.timeout(READY_TIMEOUT):
                while True:
                    seen = await asyncio.to_thread(driver.execute_script, "return window.seen")
                    if len(seen) > index:
                        break
            deltas.append((seen[index] - urc_wall) / 1000)
        result = {
            "median_ms": round(statistics.median(deltas) * 1000, 3),
            "p99_ms": round(percentile(deltas, 0.99) * 1000, 3),
        }
        print(f"URC on the AT port -> UPDATED in headless Chromium ({updates}): median "
              f"{result['median_ms']} ms, p99 {result['p99_ms']} ms")  # fmt: skip
        print(json.dumps({"benchmark": "sse_browser_latency", "updates": updates, **result}))
        at.writer.close()
    finally:
        await asyncio.to_thread(driver.quit)
        shutil.rmtree(profile, ignore_errors=True)
        for process in (module, server):
            if process.returncode is None:
                process.terminate()
            await process.wait()


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument(
        "--browser", action="store_true",
        help="also time the UPDATED event inside headless Chromium (needs chromium-driver)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    asyncio.run(main(args.reads, args.updates))
    if args.browser:
        asyncio.run(browser(args.updates))


if __name__ == "__main__":
    run()
