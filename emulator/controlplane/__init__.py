"""The MQTT control plane's core (docs/control-plane.md), sans-I/O: world controls
(``controls``), topics and payloads of schema version 1 (``schema``), and the plane that maps
module events to messages and requests to module changes (``plane``). Its aiomqtt adapter is
``emulator.adapters.controlplane``; ``serve --mqtt``, ``quecemu ctl`` and the controller
library are in ``emulator.app``."""
