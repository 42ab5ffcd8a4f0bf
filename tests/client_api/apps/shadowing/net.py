raise RuntimeError("the application's net.py must not be loaded: the built-in comes first")
