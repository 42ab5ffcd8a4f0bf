"""The emulated module's LwM2M client: a sans-I/O core (:mod:`.client`) behind ``AT+QLW*`` and
a thin aiocoap adapter (:mod:`.coap`). See docs/lwm2m-flows.md for the URCs of each flow."""

from .client import (
    STAT_DEREGISTERING,
    STAT_LOGIN_FAILED,
    STAT_NOT_REGISTERED,
    STAT_REGISTERED,
    STAT_REGISTERING,
    LwM2MClient,
)
from .config import ClientConfig, ConfigError, SecurityEntry, ServerEntry, parse_server_uri
from .settings import ClientSettings

__all__ = [
    "STAT_DEREGISTERING",
    "STAT_LOGIN_FAILED",
    "STAT_NOT_REGISTERED",
    "STAT_REGISTERED",
    "STAT_REGISTERING",
    "ClientConfig",
    "ClientSettings",
    "ConfigError",
    "LwM2MClient",
    "SecurityEntry",
    "ServerEntry",
    "parse_server_uri",
]
