"""MQTT: the module\x27s client table (sans-I/O) and its aiomqtt adapter."""
