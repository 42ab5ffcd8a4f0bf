"""The scenario tool (``quecemu scenario``): YAML scenarios run against a module and an
LwM2M server (the embedded one or Leshan), with its own drivers, relay and reports. It uses
the emulator as a library and is not part of it.
"""
