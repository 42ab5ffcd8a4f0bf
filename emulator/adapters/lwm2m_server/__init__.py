"""The embedded LwM2M server (OMA LwM2M TS 1.0, parts of 1.1) on aiocoap 0.4.17: its asyncio face.

It shares the LwM2M core (paths, object definitions, TLV/text/opaque/JSON/SenML codecs, link
format) with the emulated module's client in :mod:`emulator.lwm2m`. Any LwM2M client can use
it; ``quecemu server`` runs it standalone (:mod:`emulator.app.server_cli`).

Quick start::

    from emulator.adapters.lwm2m_server import LwM2MServer, Registered

    server = await LwM2MServer.start(coap=("127.0.0.1", 0), coaps=("127.0.0.1", 0))
    server.set_psk("dev1", "dev1-id", "000102030405")    # endpoint -> identity + hex key
    print(server.uri("coap"), server.coaps_port)
    registration = await server.wait_registered("dev1", timeout=10)
    content = await server.read("dev1", "/3/0")          # decoded content (model classes)
    await server.write("dev1", "/1/0/1", 300)             # a bare value for a resource
    await server.write("dev1", "/3/0", {14: "+02"}, replace=False)  # partial update
    await server.execute("dev1", "/3/0/4")
    links = await server.discover("dev1", "/3/0")
    await server.write_attributes("dev1", "/3/0/13", {"pmin": 1, "pmax": 10})
    new_path = await server.create("dev1", "/11", {0: "apn"})
    await server.delete("dev1", new_path)
    observation = await server.observe("dev1", "/3/0/13")
    notification = await observation.next(timeout=5)      # or: async for n in observation
    await server.cancel_observe(observation)               # active; active=False: by RST
    await server.stop()

API (all coroutines take ``timeout=`` seconds; the default is ``request_timeout``, 20 s):

* :meth:`LwM2MServer.start` ``(coap=, coaps=, bootstrap=, bootstrap_coaps=, registry=,
  psk=, bootstrap_configs=, awake_time=, request_timeout=)``: addresses are ``(host, port)``,
  port 0 = any free port; ``coaps`` needs a specific host (not ``0.0.0.0``). ``bootstrap*``
  add listeners that serve only ``/bs``; the ``coap``/``coaps`` listeners serve ``/rd`` and
  ``/bs``. Ports: ``coap_port``, ``coaps_port``, ``bootstrap_port``, ``bootstrap_coaps_port``;
  ``uri(name)``.
* Device management: ``read``, ``write`` (``replace=False``: partial update), ``execute``,
  ``discover``, ``write_attributes``, ``create``, ``delete``, ``observe``,
  ``cancel_observe``, and ``send`` for any :class:`~emulator.server.operations.DeviceRequest`.
  ``format=`` picks the content format; by default the client's registered ``ct`` if any,
  else TLV for LwM2M 1.0 and SenML JSON for 1.1 (:attr:`Registration.default_format`).
  Answers without Content-Format are read as plain text.
* Errors (:mod:`emulator.server.errors`): ``NotRegistered``, ``DeviceErrorResponse``
  (``.code``, ``.code_text`` e.g. ``"4.04"``), ``DeviceTimeout``, ``BadDeviceResponse``,
  ``ObservationClosed`` (from ``Observation.next`` after the end);
  ``ValueError`` for bad arguments (paths, attribute names, values).
* Queue mode: requests to a sleeping queue-mode client wait (within their timeout) until it
  next registers or updates; ``await server.wait_awake(ep)``; ``is_awake(ep)``;
  :class:`Awake`/:class:`Sleeping` events. A client counts as awake for ``awake_time``
  (93 s) after it was last heard from. At most ``max_queued_requests`` (100) calls wait for
  one client; one more raises :class:`QueueFull`.
* Security: ``set_psk(ep, identity, key_hex)`` / ``remove_psk(ep)``. The identity is looked up
  during the DTLS handshake; a session may register (or bootstrap) only the endpoint its PSK
  belongs to, and an endpoint with a PSK may not register in the clear (4.03). A wrong key
  fails the handshake: nothing registers.
* Bootstrap: ``set_bootstrap_config(ep, BootstrapConfig(servers=(ServerAccount(uri=...,
  psk_identity=..., psk_key=...),)))``. On ``POST /bs?ep=`` the server answers 2.04, then
  sends Bootstrap-Delete ``/0`` and ``/1``, writes the Security/Server instances (TLV) and
  Bootstrap-Finish; :class:`BootstrapFinished` or :class:`BootstrapFailed` reports the end.
  An account whose ``coaps://`` URI is this server's DTLS listener also stores its PSK here
  (``ServerAccount(uri=server.uri("coaps"), ...)``), so the client can then register with it.
* State and events: ``registration(ep)``, ``registrations()``, ``observations(ep)``;
  ``server.events`` (an ``asyncio.Queue`` of every event), ``subscribe()`` (a private stream:
  ``with server.subscribe() as events: event = await events.get(timeout)``),
  ``wait_for(predicate)``, ``wait_event(kind, ep)``, ``wait_registered(ep)``,
  ``wait_deregistered(ep)``. Events (:mod:`emulator.server.events`) are frozen dataclasses:
  ``Registered``, ``Updated``, ``Deregistered``, ``Expired``, ``Awake``, ``Sleeping``,
  ``Notification``, ``ObservationEnded``, ``BootstrapRequested``, ``BootstrapFinished``,
  ``BootstrapFailed``; why an observation or a bootstrap ended is an enum
  (:class:`ObservationEndCause`, :class:`BootstrapFailure`), so callers match on it.

How it is built (the shape of the LwM2M client's core and adapter):

* :class:`ServerCore` (:mod:`emulator.server.core`) is the server, sans-I/O: client requests,
  API calls, what the adapter saw on the wire and ``now`` go in; answers, actions
  (:mod:`emulator.server.messages`: send this request, start or forget an observation, this
  call is done) and events come out, and it asks for one timer. Queue mode, observation
  freshness (RFC 7641 §3.4), notification decoding, bootstrap sequencing and expiry live there,
  beside :class:`RegistrationStore` (registrations, lifetimes, awake windows),
  :mod:`emulator.server.bootstrap` and :mod:`emulator.server.operations` (requests as data).
  ``tests/server/test_core.py`` drives it on a fake clock.
* This package is its asyncio face. :class:`LwM2MServer` (:mod:`.server`) runs a core behind
  coroutines, event streams and an event-loop timer; :mod:`.coap` is its aiocoap glue
  (listeners, root resource, exchanges) and :mod:`.transport` the only module that touches
  aiocoap internals (DTLS requests back to clients, cancellable observations). :mod:`.rest` is
  the optional HTTP face (Leshan's demo REST API, server-sent events and the page in ``web/``)
  on aiohttp.

A Read, end to end: ``await server.read("dev", "/3/0")`` asks ``core.read`` for a ticket. The
core builds the request (:func:`emulator.server.operations.read`), and if the client is awake
queues a ``SendRequest`` action (else holds the call until its next Update, or its deadline).
The server's flush hands the action to :class:`~.coap.CoapGlue`, which sends it as an aiocoap
request over the client's last address or DTLS session and reports the answer with
``core.response_received``. The core checks the code, decodes the payload and queues
``Completed(ticket, result=content)``; the flush resolves the caller's future with it. A
deadline, a transport error or an error code ends the same way with ``error=`` set.
"""

# The server's public API in one import: the asyncio face below, and everything the core
# exports (configuration, events, errors, registrations), listed once in emulator.server.
from emulator import server as _core
from emulator.server import *  # noqa: F403

from .server import LwM2MServer, Observation, Subscription, running_server

__all__ = [*_core.__all__, "LwM2MServer", "Observation", "Subscription", "running_server"]
