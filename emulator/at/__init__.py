"""Sans-I/O AT command engine: bytes and time in, bytes out (no I/O inside)."""
