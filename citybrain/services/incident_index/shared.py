"""One copy of the incident index's sorted base per machine, mapped read-only by every server
process on it (``CITYBRAIN_HEAT_SHARED``); each process keeps its own small overlay of the rows
changed since (``index``).

A database's files live in ``<CITYBRAIN_HEAT_SHARED_DIR>/citybrain-heat-<digest>``, the digest
of the cluster's system identifier and the database's oid: the same on a primary and on its
streaming standbys (the index may read either), different for a database dropped and made
again under the same name. A base is one file, ``base-<generation>-<xmax>-<nonce>.heat``: a
JSON header (the snapshot the base reflects — xmax, the transactions then in progress, the
incidents' generation — and where each array lies) and the arrays, page-aligned. Processes map
it with ``mmap`` (MAP_SHARED, read-only): its pages are the page cache's (memory itself under
/dev/shm), held once however many processes map them.

Written once. A process that needs a base and finds none it can use takes the directory's
``lock`` (``flock``, dropped by the kernel with a process that dies), looks again, and only then
builds one. The file is written under a temporary name, fsynced, renamed, and published by
renaming a fresh symlink over ``current``: a reader that opens ``current`` gets a whole base,
never part of one. Publishing unlinks every other file of the directory (older bases, a dead
writer's temporary file): a process still mapping one keeps its pages until it lets go (unlink
semantics); no new process can open it.

Nothing outlives its users. Every process holds a shared ``flock`` on its directory's ``users``
file while it maps from it; whoever opens a directory or publishes removes the directories of
the same root whose ``users`` file nobody holds (a database since dropped, a server stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import mmap
import os
import re
import secrets
import shutil
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PREFIX = "citybrain-heat-"
MAGIC = b"CBHEAT01"
PAGE = mmap.PAGESIZE
LOCK_POLL_S = 0.05  # how often a process waiting for another's build looks again


def directory(root: Path, database: tuple, layout: str) -> Path:
    """The directory of one database's shared files under ``root``: ``database`` says which
    (system identifier, database oid, timeline) and ``layout`` what the files hold (the codes and
    arrays of the code that reads them: a release that changes them starts afresh). Each user
    has its own (a directory is trusted only by the user who made it: a server that ran as root
    before and as its own user now must not find root's)."""
    name = "/".join(map(str, (*database, layout, MAGIC.decode(), os.geteuid())))
    return root / f"{PREFIX}{hashlib.sha256(name.encode()).hexdigest()[:20]}"


@dataclass
class Mapped:
    """A base file mapped read-only: its arrays (views of the mapping, which they keep alive)
    and the snapshot it reflects."""

    name: str
    key: tuple[int, int]  # (device, inode): what ``current`` pointing elsewhere is told by
    arrays: dict[str, np.ndarray]
    xmax: str
    xip: list[str]
    generation: str
    nbytes: int


class Store:
    """One database's shared files (see the module's docstring); one per ``IncidentIndex``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users = _join(path)  # held (LOCK_SH) while this store lives
        sweep(path.parent, keep=path)

    def close(self) -> None:
        self._users.close()

    # --- reading --------------------------------------------------------------------------------

    def current(self) -> Mapped | None:
        """The published base, mapped; None when there is none."""
        for _ in range(8):  # (unlinked between the symlink's reading and the open: look again)
            try:
                fd = os.open(self.path / "current", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                if not os.path.lexists(self.path / "current"):
                    return None
                continue
            try:
                return _map(fd)
            finally:
                os.close(fd)
        return None

    def is_current(self, mapped: Mapped | None) -> bool:
        """Whether ``mapped`` is the published base (or nothing is published: nothing newer)."""
        try:
            st = os.stat(self.path / "current")
        except FileNotFoundError:
            return True
        return mapped is not None and (st.st_dev, st.st_ino) == mapped.key

    # --- writing --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def locked(self, wait: bool) -> AsyncIterator[bool]:
        """The builder's lock: yields True once held (polling, so that the event loop goes on
        and a cancelled wait leaves nothing behind), or False at once when another process
        holds it and ``wait`` is false."""
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                    break
                except BlockingIOError:
                    if not wait:
                        held = False
                        break
                    await asyncio.sleep(LOCK_POLL_S)
            yield held
        finally:
            os.close(fd)  # (lets go of the lock)

    def publish(
        self, arrays: dict[str, np.ndarray], xmax: str, xip: list[str], generation: str
    ) -> Mapped:
        """Write a base (the caller holds the lock), make it the current one, remove every
        other file of the directory and the dead directories beside it; the base, mapped."""
        name = f"base-{_safe(generation)}-{_safe(xmax)}-{secrets.token_hex(4)}.heat"
        header, offsets, size = _layout(arrays, name, xmax, xip, generation)
        tmp = self.path / f".tmp-{name}"
        try:
            with open(tmp, "wb") as f:
                f.write(MAGIC + len(header).to_bytes(8, "little") + header)
                for key, a in arrays.items():
                    f.seek(offsets[key])
                    f.write(np.ascontiguousarray(a).data)
                f.truncate(size)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, self.path / name)
            link = self.path / f".tmp-current-{secrets.token_hex(4)}"
            os.symlink(name, link)
            os.replace(link, self.path / "current")
            _fsync_dir(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        for p in self.path.iterdir():
            if p.name not in (name, "current", "lock", "users"):
                with contextlib.suppress(OSError):
                    p.unlink()
        fd = os.open(self.path / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            mapped = _map(fd)
        finally:
            os.close(fd)
        sweep(self.path.parent, keep=self.path)
        return mapped


def sweep(root: Path, keep: Path) -> list[Path]:
    """Remove the directories under ``root`` that no process uses (no shared lock on their
    ``users``); the ones removed."""
    gone = []
    for d in root.glob(PREFIX + "*"):
        if d == keep or not d.is_dir():
            continue
        try:
            fd = os.open(d / "users", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue  # (being made, or not ours to touch)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            # A process joining meanwhile waits for this lock, then finds its file unlinked
            # and makes the directory again (``_join``).
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d)
        finally:
            os.close(fd)
    return gone


def _join(path: Path):
    """Make the directory if need be and hold a shared lock on its ``users`` file; refuse a
    directory another user made or others may write in (its files are mapped as trusted)."""
    for _ in range(8):
        path.mkdir(mode=0o700, parents=False, exist_ok=True)
        st = os.lstat(path)  # (not a symbolic link planted to lead elsewhere)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise PermissionError(
                errno.EACCES, "not this user's, or others may write in it", str(path)
            )
        try:
            f = open(path / "users", "a+b")  # noqa: SIM115 (held as long as the store lives)
        except FileNotFoundError:
            continue  # swept away meanwhile
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)  # (waits out a sweeper holding LOCK_EX)
        try:
            same = os.stat(path / "users").st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return f
        f.close()  # the sweeper removed it while we waited: make it again
    raise OSError(errno.EAGAIN, "could not join the shared directory", str(path))


def _layout(
    arrays: dict[str, np.ndarray], name: str, xmax: str, xip: list[str], generation: str
) -> tuple[bytes, dict[str, int], int]:
    """The header and each array's page-aligned offset (the header says where they are)."""
    start = PAGE
    while True:
        offsets, at = {}, start
        for key, a in arrays.items():
            offsets[key] = at
            at = _align(at + a.nbytes)
        meta = {
            "name": name,
            "xmax": xmax,
            "xip": xip,
            "generation": generation,
            "arrays": {k: [a.dtype.str, list(a.shape), offsets[k]] for k, a in arrays.items()},
        }
        header = json.dumps(meta).encode()
        if len(MAGIC) + 8 + len(header) <= start:
            return header, offsets, max(at, start)
        start = _align(len(MAGIC) + 8 + len(header))


def _map(fd: int) -> Mapped:
    st = os.fstat(fd)
    mm = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    if mm[: len(MAGIC)] != MAGIC:
        raise OSError(errno.EINVAL, "not an incident index base file")
    n = int.from_bytes(mm[len(MAGIC) : len(MAGIC) + 8], "little")
    meta = json.loads(mm[len(MAGIC) + 8 : len(MAGIC) + 8 + n])
    arrays = {}
    for key, (dtype, shape, offset) in meta["arrays"].items():
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        a = np.frombuffer(mm, dtype=dt, count=count, offset=offset) if count else np.zeros(0, dt)
        arrays[key] = a.reshape(shape)  # (read-only: the mapping is)
    return Mapped(
        meta["name"],
        (st.st_dev, st.st_ino),
        arrays,
        meta["xmax"],
        list(meta["xip"]),
        meta["generation"],
        st.st_size,
    )


def _align(n: int) -> int:
    return -(-n // PAGE) * PAGE


def _safe(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", text)[:40]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
