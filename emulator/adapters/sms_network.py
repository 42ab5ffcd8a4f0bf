"""The network side of a hosted module's SMS, for tests and tools (the asyncio adapter).

    network = SmsNetwork(host)
    network.deliver("+8613912345678", "hello")      # the module indicates +CMTI (or +CMT)
    sent = await network.next_sent(timeout=10)       # what the module submitted (AT+CMGS...)

Nothing polls: :meth:`next_sent` waits on the module's :class:`SmsSent` events as the host
dispatches them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from emulator.module.events import ModuleEvent
from emulator.sms.events import SmsReceived, SmsSent
from emulator.sms.model import DeliveryResult, sms_state

if TYPE_CHECKING:
    from emulator.adapters.host import ModuleHost


class SmsNetwork:
    """Delivers SMS to one module and collects the SMS it sends."""

    def __init__(self, host: ModuleHost) -> None:
        self.host = host
        self.sent: list[SmsSent] = []  # everything the module sent since this was made
        self.received: list[SmsReceived] = []
        self._taken = 0
        self._changed = asyncio.Event()
        host.add_listener(self._on_event)

    def close(self) -> None:
        self.host.remove_listener(self._on_event)

    def _on_event(self, event: ModuleEvent) -> None:
        if isinstance(event, SmsSent):
            self.sent.append(event)
            self._changed.set()
        elif isinstance(event, SmsReceived):
            self.received.append(event)

    def deliver(self, sender: str, text: str, *, smsc: str | None = None) -> list[DeliveryResult]:
        """The network delivers ``text`` from ``sender`` now (concatenated when long).

        Raises ``NotDeliverable`` (a ValueError) with the reason when the module cannot take
        it: no SIM, not registered, a sender that is not a number."""
        module = self.host.module
        return self.host.apply(
            lambda now: sms_state(module).deliver_text(sender, text, now, smsc=smsc)
        )

    def deliver_pdu(self, tpdu: bytes) -> DeliveryResult:
        """An SMS-DELIVER TPDU exactly as given (23.040 §9.2.2.1)."""
        module = self.host.module
        return self.host.apply(lambda now: sms_state(module).deliver(tpdu, now))

    def refuse_sends(self, code: int | None) -> None:
        """From now on the network refuses what the module sends: AT+CMGS/AT+CMSS answer
        ``+CMS ERROR: <code>`` (0-127: 3GPP TS 24.011 RP causes, e.g. 38 network out of
        order, 42 congestion; 332 network timeout; 500 unknown). None accepts again."""
        if code is not None and not 0 <= code <= 511:
            raise ValueError(f"+CMS ERROR code {code} is not 0-511")
        module = self.host.module

        def refuse(now: float) -> None:
            sms_state(module).refuse_sends = code

        self.host.apply(refuse)

    async def next_sent(self, timeout: float) -> SmsSent:
        """The next SMS the module sends (in order; each is handed out once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._taken >= len(self.sent):
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the module sent no SMS within {timeout:g} s")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                raise TimeoutError(f"the module sent no SMS within {timeout:g} s") from None
        event = self.sent[self._taken]
        self._taken += 1
        return event
