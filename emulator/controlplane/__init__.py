"""The MQTT control plane and event stream of ``quecemu serve --mqtt`` (docs/control-plane.md):
world controls (``controls``), topics and payloads (``schema``), the sans-I/O core
(``plane``), the aiomqtt adapter (``mqtt``) and ``quecemu ctl`` (``cli``)."""
