from .codec import VERSION  # noqa: F401  a relative import inside the application's package
