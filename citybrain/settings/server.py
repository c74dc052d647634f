"""The server's processes and its edge: where it listens, as whom, what it logs, which names
and proxies it trusts."""

from __future__ import annotations

import re
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from citybrain.settings.base import Part


class ServerSettings(Part):
    """The server's processes and its edge: where it listens, as whom, what it logs, which names
    and proxies it trusts."""

    host: str = "127.0.0.1"
    port: int = 8000
    dispatch_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="port of the dispatch process: callers with a key, served by a process of "
        "its own while the public workers run at a lower CPU priority (0: none; dispatch is "
        "then served on the public port with everything else)",
    )
    public_nice: int = Field(
        default=10, ge=0, le=19, description="how much lower the public workers' CPU priority is"
    )
    serve_user: str = Field(
        default="citybrain-web",
        description="the system user `citybrain serve` runs as when started as root (made if "
        "missing): it reads its own logins' passwords, never the superuser's, nor the cluster's "
        "data",
    )
    access_log: bool = Field(
        default=False, description="log every request (costs ~10% of throughput on hot paths)"
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="log lines as JSON objects (for a log collector) or plain text (a terminal); "
        "either carries the request id",
    )
    metrics_access: Literal["key", "anonymous", "off"] = Field(
        default="key",
        description="who may read /metrics: callers with an API key (any role), anyone, or "
        "nobody (404)",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="proxies whose X-Forwarded-For names the client (comma-separated addresses "
        "or networks; '*' trusts all; empty, the default, trusts none: any local process could "
        "otherwise claim to be a thousand clients). Name the deployment's own proxy here",
    )
    public_url: str | None = Field(
        default=None,
        description="the service's public base URL, e.g. https://screen.county.gov.cn/citybrain: "
        "links in answers (the style, TileJSON, OGC links) and redirects are built from it; "
        "unset: from the request's own host, once it is checked against CITYBRAIN_ALLOWED_HOSTS",
    )
    allowed_hosts: str = Field(
        default="",
        description="host names requests may address (comma-separated; '*.example.cn' takes its "
        "subdomains, '*' any host); any other gets 400 invalid_host, health checks and /metrics "
        "excepted. Empty: the loopback names and CITYBRAIN_HOST. CITYBRAIN_PUBLIC_URL's host is "
        "always allowed",
    )

    @model_validator(mode="after")
    def _ports_differ(self) -> Self:
        if self.dispatch_port and self.dispatch_port == self.port:
            raise ValueError(
                f"CITYBRAIN_DISPATCH_PORT and CITYBRAIN_PORT are both {self.port}: the dispatch "
                "process needs a port of its own (or 0 for none)"
            )
        return self

    @field_validator("public_url")
    @classmethod
    def _valid_public_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(
                f"CITYBRAIN_PUBLIC_URL {value!r} is not a base URL: write e.g. "
                "https://screen.county.gov.cn or https://screen.county.gov.cn/citybrain"
            )
        return value.strip().split("#")[0].rstrip("/")

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, value: str) -> str:
        for host in (h.strip() for h in value.split(",") if h.strip()):
            if not re.fullmatch(r"\*|(\*\.)?[A-Za-z0-9_.-]+|\[?[0-9A-Fa-f:.]+\]?", host):
                raise ValueError(
                    f"CITYBRAIN_ALLOWED_HOSTS: {host!r} is not a host name (no scheme, port or "
                    "path: e.g. screen.county.gov.cn, *.county.gov.cn, 10.1.2.3)"
                )
        return value
