"""Adapters: the I/O around the sans-I/O cores.

Everything that owns an event loop task, a socket, a pty, a file or a TLS context lives
here: the module's runtime (``host``), its AT port transports (``port``: pty, TCP, baud
pacing, trace), DTLS on Mbed TLS (``dtls``), the LwM2M client's CoAP adapter
(``lwm2m_client``), the embedded LwM2M server's asyncio face (``lwm2m_server``: aiocoap
glue, REST API), the data stacks' sockets/MQTT/HTTP clients, the virtual network map, and
the file-backed NV store. Cores never import from here; adapters import cores.
"""
