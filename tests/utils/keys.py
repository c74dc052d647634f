"""The tests' API keys, one per role: as the servers' setting and as a request's header."""

from __future__ import annotations

API_KEYS = {
    "display": "display-test-key-0001",
    "viewer": "viewer-test-key-0001",
    "dispatcher": "dispatcher-test-key-0001",
    "admin": "admin-test-key-000001",
    "intake": "intake-test-key-00001",  # an outside channel: reports, reads no case file
}
API_KEYS_SETTING = ",".join(f"{role}:{key}" for role, key in API_KEYS.items())


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEYS[role]}"}
