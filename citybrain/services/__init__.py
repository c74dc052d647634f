"""Spatial services: locate, nearest, routing, dispatch, incidents. They take a database
connection and plain values, return plain data, and raise ``citybrain.errors`` exceptions; the
API and the CLI are thin layers over them."""
