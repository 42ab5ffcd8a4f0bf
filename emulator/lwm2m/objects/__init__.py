"""Bundled LwM2M object definitions (JSON data; a package only so that wheels ship them)."""
