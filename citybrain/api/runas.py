"""Serving without root: ``citybrain serve`` started as root (``scripts/run.sh`` on a fresh
machine) becomes ``CITYBRAIN_SERVE_USER`` (a system user, made if missing) before it serves.

That user is given its own logins' passwords (the request login's, the import login's: files
it alone may read) and nothing else: the cluster's superuser password stays root's, the
cluster's data directory and log stay PostgreSQL's; the photo store (``CITYBRAIN_PHOTO_DIR``),
the one place it writes files, becomes its own. A server that an upload tricked into
reading a file can read no secret that makes it more than its logins.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
from pathlib import Path

from citybrain.errors import InvalidInput
from citybrain.settings import Settings


def serve_user(name: str) -> pwd.struct_passwd:
    """The system user ``name``, made (no login shell, no home) if it does not exist."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent"]
            + ["--shell", "/usr/sbin/nologin", name],
            check=True,
        )
        return pwd.getpwnam(name)


def drop_root(settings: Settings) -> pwd.struct_passwd | None:
    """As root: hand ``serve_user`` its passwords and become it (None when not root)."""
    if os.geteuid() != 0:
        return None
    user = serve_user(settings.serve_user)
    if user.pw_uid == 0:
        raise InvalidInput(
            f"CITYBRAIN_SERVE_USER={settings.serve_user} is root: name an unprivileged user"
        )
    for secret in (settings.server_password_file, settings.import_password_file):
        if secret.exists():
            os.chown(secret, user.pw_uid, user.pw_gid)
            os.chmod(secret, 0o600)
    # The photo store is the one place the server writes files: the serve user's, not
    # readable by others (photos show people and places).
    photos = settings.photos_path
    photos.mkdir(parents=True, exist_ok=True)
    if photos.stat().st_uid == 0:
        os.chown(photos, user.pw_uid, user.pw_gid)
        os.chmod(photos, 0o750)
    # The worker processes read their settings again, as the new user: keep what depended on
    # being root (the data directory's default) as it was.
    os.environ["CITYBRAIN_DATA_DIR"] = str(settings.data_dir)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ.update(HOME="/tmp", USER=user.pw_name, LOGNAME=user.pw_name)
    _check_reachable(settings, user)
    return user


def _check_reachable(settings: Settings, user: pwd.struct_passwd) -> None:
    """The code, the layer and detector files must be readable by the user it now is: a
    checkout in a private home directory is not (say so, rather than fail in a worker)."""
    import citybrain

    needed = [
        Path(sys.executable),
        Path(citybrain.__file__).parent,
        settings.layers_dir,
        settings.alerts_dir,
    ]
    for path in needed:
        if not os.access(path, os.R_OK | os.X_OK):
            group = grp.getgrgid(user.pw_gid).gr_name
            raise InvalidInput(
                f"citybrain serve runs as {user.pw_name}:{group} when started as root, and "
                f"{user.pw_name} cannot read {path}: put the installation where it can (e.g. "
                "/opt/citybrain), or start citybrain serve as a user of your own"
            )
