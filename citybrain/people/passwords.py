"""Passwords: Argon2id (argon2-cffi), with OWASP's parameters for it (19 MiB, 2 passes); an
unknown login is checked against a hash of its own so that it takes the time a wrong password
takes; initial passwords are random and shown once."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_NOBODY = HASHER.hash(secrets.token_urlsafe(24))  # what an unknown login is checked against
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one; ``password_hash`` None (no such account) costs the
    same time and is never right."""
    try:
        return HASHER.verify(password_hash or _NOBODY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def initial_password() -> str:
    """A new account's first password: 12 characters from an alphabet without look-alikes."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def weak_reason(password: str) -> str | None:
    """Why a chosen password is refused (None: it is not)."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(set(password)) < 4:
        return "a password needs more than three different characters"
    return None
