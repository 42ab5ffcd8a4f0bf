VERSION = "the application's json package"
