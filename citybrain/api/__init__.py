"""The HTTP API: one router per resource under ``routers/``, assembled by ``main.create_app``."""
