"""The virtual module's state and its sans-I/O host (VirtualModule)."""
