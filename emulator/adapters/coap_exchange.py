"""One CoAP request and its response on a known request interface, without a task.

aiocoap's ``Context.request`` takes every request through its block-wise wrapper: a task
that looks the remote's interface up (awaiting it), a second request object whose own task
finds the interface again and hands the request pipe to the token manager, and futures in
between. A fleet's periodic Updates (100 a second for 10,000 modules at a 120 s lifetime)
spent most of the module side's CPU there. When the remote's request interface is known and
the body fits one message (nothing for RFC 7959 §2.5 Block1 to split), :class:`Exchange`
gives the pipe to that interface's token manager directly, as the wrapper's inner request
would: the token manager still picks the token and matches the response to it (RFC 7252
§5.3.2), the message manager still assigns the message ID, retransmits a CON with
exponential back-off and matches its ACK (§4.2). A body that needs Block1 keeps aiocoap's
wrapper (:func:`fits_one_message` says which); a response that announces more Block2 blocks
(RFC 7959 §2.4) is completed by the routine aiocoap's wrapper uses.

The aiocoap internals relied on are pinned by tests/server/test_aiocoap_internals.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiocoap
from aiocoap.numbers.optionnumbers import OptionNumber
from aiocoap.options import Options
from aiocoap.pipe import Pipe
from aiocoap.protocol import BlockwiseRequest

from emulator.adapters.looptimers import LoopTimers

__all__ = ["Exchange", "PreparedOptions", "fits_one_message"]

#: What an exchange reports once: itself, and the response or the exception that ended it.
Outcome = Callable[["Exchange", aiocoap.Message | None, BaseException | None], None]


class PreparedOptions(Options):  # type: ignore[misc]  # aiocoap is untyped
    """A request's options that keep their encoding until they change.

    A module sends the same options again and again (each Update: its registration's
    Location-Path as Uri-Path, RFC 7252 §5.10.1 / OMA LwM2M TS 1.0 §8.2.3); building them
    option by option and encoding them for every message was a good part of a fleet's CPU
    per Update. The adapter builds them once and gives each message a :meth:`copy`, whose
    encoding is the template's. Every change goes through ``add_option`` or
    ``delete_option`` (the option setters, ``decode`` and aiocoap's block-wise copies use
    them; pinned by tests/server/test_aiocoap_internals.py), which drop the kept encoding.
    """

    __slots__ = ("_encoded",)

    def __init__(self) -> None:
        super().__init__()
        self._encoded: bytes | None = None

    def encode(self) -> bytes:
        if self._encoded is None:
            self._encoded = super().encode()
        return self._encoded

    def add_option(self, option: Any) -> None:
        self._encoded = None
        super().add_option(option)

    def delete_option(self, number: Any) -> None:
        self._encoded = None
        super().delete_option(number)

    def copy(self) -> PreparedOptions:
        """Options equal to these (the option objects shared: nothing changes one), with
        their encoding."""
        if self._encoded is None:  # encoded once, here, for all the copies
            self._encoded = super().encode()
        new = PreparedOptions.__new__(PreparedOptions)
        new._options = {number: list(options) for number, options in self._options.items()}
        new._encoded = self._encoded
        return new


def fits_one_message(message: aiocoap.Message) -> bool:
    """Whether aiocoap's block-wise wrapper would send ``message`` as it is (the same
    threshold: the remote's largest payload, or its block size when that is smaller)."""
    if message.opt.block1 is not None:
        return False
    remote = message.remote
    size_exp = remote.maximum_block_size_exp
    threshold = remote.maximum_payload_size if size_exp >= 6 else 2 ** (size_exp + 4)
    return len(message.payload) <= int(threshold)


def _no_interest() -> None:
    """What an ended exchange holds instead of its pipe's interest handle."""


class Exchange:
    """One request on ``interface`` (a token manager that recognises ``message.remote``),
    ended by its response, an exception from the transport, ``timeout`` seconds or
    :meth:`cancel`. ``outcome`` is called once (never after cancel), from the event loop
    rather than inside aiocoap's message dispatch."""

    def __init__(
        self,
        context: aiocoap.Context,
        interface: Any,
        message: aiocoap.Message,
        timeout: float,
        outcome: Outcome,
        deadlines: LoopTimers | None = None,
    ) -> None:
        self._context = context
        self._outcome: Outcome | None = outcome
        self._completing: asyncio.Future[aiocoap.Message] | None = None
        self._loop = context.loop  # (asyncio.get_running_loop() asks the OS for the pid)
        self._deadlines = deadlines or LoopTimers.of(self._loop)
        self._deadline = self._deadlines.add(self._loop, timeout, self._timed_out)
        self._pipe = Pipe(message, context.log)
        self._stop_interest = self._pipe.on_event(self._on_event)
        interface.request(self._pipe)  # may fail at once: _on_event then has the exception

    @property
    def done(self) -> bool:
        return self._outcome is None

    def cancel(self) -> None:
        """Stop waiting and report nothing (the module is stopping or resetting)."""
        self._outcome = None
        self._end(stop_interest=True)

    def _end(self, *, stop_interest: bool) -> None:
        self._deadlines.drop(self._deadline)
        if stop_interest:  # (an event callback that returns False ends it by itself)
            self._stop_interest()  # the token manager forgets the token
        # The interest handle holds our bound _on_event: a cycle (exchange -> handle ->
        # exchange) that only the cyclic collector would free, with the pipe, the request and
        # its options: 10 objects per Update, a young-generation collection every ~70 Updates.
        self._stop_interest = _no_interest
        if self._completing is not None:
            self._completing.cancel()

    def _on_event(self, event: Any) -> bool:
        if self._outcome is None:
            return False
        if event.message is None:
            self._finish(None, event.exception, in_event=True)
            return False
        response: aiocoap.Message = event.message
        block2_options = response.opt.get_option(OptionNumber.BLOCK2)  # (one call, not two)
        if block2_options:
            block2 = block2_options[0].value
            if block2.more:
                # RFC 7959 §2.4: fetch the remaining blocks as aiocoap's wrapper would.
                self._completing = asyncio.ensure_future(
                    BlockwiseRequest._complete_by_requesting_block2(
                        self._context, self._pipe.request, response, self._context.log
                    )
                )
                self._completing.add_done_callback(self._completed)
                return False
            response.opt.block2 = None
        self._finish(response, None, in_event=True)
        return False

    def _completed(self, future: asyncio.Future[aiocoap.Message]) -> None:
        if future.cancelled() or self._outcome is None:
            return
        error = future.exception()
        self._finish(None if error is not None else future.result(), error)

    def _timed_out(self) -> None:
        if self._outcome is not None:
            self._finish(None, TimeoutError())

    def _finish(
        self,
        response: aiocoap.Message | None,
        error: BaseException | None,
        *,
        in_event: bool = False,
    ) -> None:
        outcome, self._outcome = self._outcome, None
        self._completing = None
        self._end(stop_interest=not in_event)
        if outcome is not None:
            # Later, not inside the pipe's event: what the client does next may send.
            self._loop.call_soon(outcome, self, response, error)
