"""Who may ask, and how often: API keys, anonymous reads, rate limits."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from citybrain.domain import KEY_ROLES
from citybrain.settings.base import Part

MIN_KEY_CHARS = 20  # a bootstrap key: ~120 bits if random; made keys have 192


class AccessSettings(Part):
    """Who may ask, and how often: API keys, anonymous reads, rate limits."""

    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="comma-separated role:key pairs (roles: display, viewer, dispatcher, "
        "admin, intake) that bootstrap access; keys of their own are made with "
        "`citybrain keys create`",
    )
    session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="how long a login's session lasts (POST /auth/login); logout, disabling "
        "the account or a new password end it sooner",
    )
    login_failures: int = Field(
        default=5, ge=1, description="failed logins of one login before it is refused (429)"
    )
    login_failures_per_address: int = Field(
        default=30, ge=1, description="failed logins from one address before it is refused"
    )
    login_window_s: float = Field(
        default=900.0,
        gt=0,
        description="the window failed logins are counted in: a refused login waits it out",
    )
    anonymous_reads: bool = Field(
        default=True,
        description="let callers without a key read what a public screen shows (layers, "
        "tiles, aggregates); false: every request but health checks needs a key",
    )
    rate_limit: str = Field(
        default="100/second;3000/minute",
        description="requests one client address without a key may make (limits' notation: "
        "'100/second;3000/minute'; empty: no limit), per server process",
    )
    rate_limit_keyed: str = Field(
        default="200/second;12000/minute",
        description="requests one API key may make, per server process (empty: no limit)",
    )

    @field_validator("api_keys")
    @classmethod
    def _valid_keys(cls, value: SecretStr) -> SecretStr:
        # Errors name the pair's position, never a key (the setting is a secret).
        for i, pair in enumerate(
            filter(None, (p.strip() for p in value.get_secret_value().split(","))), start=1
        ):
            role, sep, key = pair.partition(":")
            if not sep or role not in KEY_ROLES:
                raise ValueError(
                    f"CITYBRAIN_API_KEYS: pair {i} is not role:key with a role of "
                    + ", ".join(KEY_ROLES)
                )
            if len(key.strip()) < MIN_KEY_CHARS:
                raise ValueError(
                    f"CITYBRAIN_API_KEYS: the key of pair {i} ({role}) is shorter than "
                    f"{MIN_KEY_CHARS} characters; `citybrain keys create {role}` makes a strong one"
                )
        return value

    @field_validator("rate_limit", "rate_limit_keyed")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        from limits import parse_many

        if value.strip():
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit: write e.g. '100/second;3000/minute'"
                ) from None
        return value
