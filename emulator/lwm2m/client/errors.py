"""Errors of the module's LwM2M client core (raised where found, rendered at the AT
boundary, :mod:`emulator.commands.lwm2m`)."""

from __future__ import annotations


class ClientStateError(Exception):
    """A request the client cannot take in its present state: registering while it runs or
    with no server configured, deregistering or updating while not registered, changing a
    setting that is fixed while it runs. The AT port answers ``+CME ERROR: 3`` (operation
    not allowed, 3GPP TS 27.007 §9.2.1), as the module does."""
