"""Reassembly of Block1 requests (RFC 7959 §2.5) with the answers §2.9 gives for bad ones.

aiocoap's ``Block1Spool`` collects the blocks; what it does not do is answer a block that
does not follow the ones before (it raises a bare ``ValueError``, which became a 5.00 and a
traceback), nor bound the size of what it collects. :class:`Block1Assembly` adds both:

* a gap or an overlap gets 4.08 Request Entity Incomplete (§2.9.2);
* a body that would grow past ``limit`` gets 4.13 Request Entity Too Large with Size1 set
  to the limit (§2.9.3, §4), before the block is stored.

Incomplete assemblies are forgotten by aiocoap after MAX_TRANSMIT_WAIT, as before.
"""

from __future__ import annotations

from aiocoap import Message
from aiocoap import error as coap_error
from aiocoap.blockwise import Block1Spool
from aiocoap.numbers.codes import Code

__all__ = ["Block1Assembly"]


class _TooLarge(coap_error.RenderableError):  # type: ignore[misc]  # aiocoap is untyped
    def __init__(self, limit: int) -> None:
        super().__init__(f"a request body of more than {limit} bytes")
        self.limit = limit

    def to_message(self) -> Message:
        message = Message(code=Code.REQUEST_ENTITY_TOO_LARGE)
        message.opt.size1 = self.limit
        return message


class Block1Assembly(Block1Spool):  # type: ignore[misc]  # aiocoap is untyped
    """A Block1 spool that answers gaps with 4.08 and bodies past ``limit`` with 4.13."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def feed_and_take(self, req: Message) -> Message:
        block = req.opt.block1
        if block is not None and block.start + len(req.payload) > self.limit:
            raise _TooLarge(self.limit)
        try:
            assembled: Message = super().feed_and_take(req)
        except ValueError:  # aiocoap: the block leaves a gap or overlaps
            raise coap_error.RequestEntityIncomplete(
                f"block {block.block_number} does not follow the blocks received"
            ) from None
        return assembled
