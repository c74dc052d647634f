"""Reading the live event stream (``/events``) in a test."""

from __future__ import annotations

import json
import threading

import httpx


class Stream:
    """Reads ``/events`` in a thread; ``got`` holds the (event, payload) pairs of the named
    events until ``done(got)``."""

    def __init__(self, url: str, done, events: tuple[str, ...] = ("incident", "bulk")):
        self.got: list[tuple[str, dict]] = []
        self.events = events
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._listen, args=(url, done), daemon=True)
        self.thread.start()
        assert self.opened.wait(5)

    def _listen(self, url: str, done) -> None:
        with httpx.Client(base_url=url, timeout=30) as c, c.stream("GET", "/events") as r:
            event = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                    self.opened.set()
                elif line.startswith("data:") and event in self.events:
                    self.got.append((event, json.loads(line.split(":", 1)[1])))
                    if done(self.got):
                        return

    def join(self, timeout: float = 10) -> list[tuple[str, dict]]:
        self.thread.join(timeout)
        return self.got
