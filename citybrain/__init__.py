"""citybrain: 一图观全域、一屏管全局 — a county governance map service on PostGIS and H3."""

__version__ = "0.1.0"
