"""People, not keys: accounts with a role and an area (``accounts``), their passwords
(``passwords``: Argon2id) and sessions (``sessions``: login, logout, who holds a token, the
brute-force bound), the caller as the database sees it (``caller``: the identity row-level
security reads on each transaction that touches a case file), and personal data masked by
role with every unmasked read logged (``personal``).

Who may do what is written once, in ``citybrain.domain`` (``Role``, ``Can``); which case files
a caller may read is the database's to decide (migration 0019's policies), so that a route's
bug cannot hand another area's case to anyone.
"""
