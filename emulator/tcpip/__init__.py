"""The module's TCP/IP stack behind Quectel's TCP/IP AT commands (AT+QIOPEN, AT+QISEND...).

``core`` is the sans-I/O connection table: it takes AT-level requests and socket results
with the time, raises the URCs a module gives and posts request events (``events``) for
the asyncio adapter (``adapter``), which makes the real sockets on the PC through the
virtual network map (:mod:`emulator.adapters.netmap`). Limits, texts and error codes come from the
profile's ``"tcpip"`` section (:class:`emulator.tcpip.settings.TcpipSettings`).
"""
