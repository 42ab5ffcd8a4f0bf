"""HTTP(S): the module's client session (sans-I/O) and its aiohttp adapter."""
