"""The embedded LwM2M server's sans-I/O core (OMA LwM2M TS 1.0, parts of 1.1).

Client requests, API calls, what the adapter saw on the wire and ``now`` go in; answers,
actions (:mod:`.messages`: send this request, start or forget an observation, this call is
done) and events (:mod:`.events`) come out, and the core asks for one timer. Nothing here owns
an event loop, a socket or a file (the import-linter contracts in pyproject.toml check it).

* :class:`ServerCore` (:mod:`.core`): queue mode, observation freshness (RFC 7641 §3.4),
  notification decoding, bootstrap sequencing and expiry; ``tests/server/test_core.py`` drives
  it on a fake clock.
* :class:`RegistrationStore` (:mod:`.registration`): registrations, lifetimes, awake windows.
* :mod:`.operations` (device management requests as data), :mod:`.bootstrap` (bootstrap
  configurations and their request sequence), :mod:`.credentials` (PSKs), :mod:`.errors`,
  :mod:`.text` (endpoint names, safe log text).
* :mod:`.leshan_json`: Leshan 2.x's demo JSON shapes, a codec for the REST face.

The asyncio face (:class:`LwM2MServer`, its aiocoap glue, the REST API and web page) is the
adapter :mod:`emulator.adapters.lwm2m_server`; its package docstring is the quick start.
"""

from .bootstrap import BootstrapConfig, SecurityMode, ServerAccount
from .core import ServerCore
from .credentials import PskClaim, PskCredentials, PskStore
from .errors import (
    BadDeviceResponse,
    DeviceErrorResponse,
    DeviceTimeout,
    Forbidden,
    NotRegistered,
    ObservationClosed,
    PreconditionFailed,
    QueueFull,
    ServerApiError,
)
from .events import (
    Awake,
    BootstrapFailed,
    BootstrapFailure,
    BootstrapFinished,
    BootstrapRequested,
    Deregistered,
    Expired,
    Notification,
    ObservationEndCause,
    ObservationEnded,
    Registered,
    ServerEvent,
    Sleeping,
    Updated,
)
from .messages import DeviceResponse
from .operations import DeviceRequest
from .registration import Registration, RegistrationStore

__all__ = [
    "Awake",
    "BadDeviceResponse",
    "BootstrapConfig",
    "BootstrapFailed",
    "BootstrapFailure",
    "BootstrapFinished",
    "BootstrapRequested",
    "Deregistered",
    "DeviceErrorResponse",
    "DeviceRequest",
    "DeviceResponse",
    "DeviceTimeout",
    "Expired",
    "Forbidden",
    "NotRegistered",
    "Notification",
    "ObservationClosed",
    "ObservationEndCause",
    "ObservationEnded",
    "PreconditionFailed",
    "PskClaim",
    "PskCredentials",
    "PskStore",
    "QueueFull",
    "Registered",
    "Registration",
    "RegistrationStore",
    "SecurityMode",
    "ServerAccount",
    "ServerApiError",
    "ServerCore",
    "ServerEvent",
    "Sleeping",
    "Updated",
]
