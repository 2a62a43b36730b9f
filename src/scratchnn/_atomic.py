"""Atomic file replacement: write a temporary file beside the target, fsync, rename over it.

A reader sees the old file or the new one, never half of one, whatever happens mid-save (a full
disk, Ctrl-C, ``kill -9``, a power cut after the rename). The temporary file's name says who
wrote it, ``.{target}.{pid}-{host}-{random}.tmp``, so the next save into the same folder removes
those left behind by writers that are dead (a ``kill -9`` leaves one) or silent for ten minutes;
loading a file removes those of saves to that file.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ._validation import describe

STALE_SECONDS = 600.0  # a temporary file untouched this long has no live writer
_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
_TEMPORARY = re.compile(r"\..+\.(?P<pid>\d{1,10})-(?P<host>[0-9a-f]{4})-[0-9a-f]{8}\.tmp")


def target_of(path: object) -> Path:
    """The regular file that saving to ``path`` replaces: a symbolic link's target, resolved.

    Raises ``TypeError`` for anything but a ``str`` or ``os.PathLike``, and ``ValueError`` naming
    ``path`` for a folder, a device or FIFO, a link loop or a folder that does not exist.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    given = os.fspath(path)
    if not isinstance(given, str):
        raise TypeError(f"path must be a str or os.PathLike naming a file, got {describe(given)}")
    if not given or "\0" in given:
        raise ValueError(f"path must name a file, got {given!r}")
    target = Path(given)
    if target.is_symlink():
        target = Path(os.path.realpath(given))
        if target.is_symlink():
            raise ValueError(f"path must name a file, got {given!r}, a loop of symbolic links")
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise ValueError(f"path must name a file, got {given!r}: {error.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ValueError(f"path must name a file, got {given!r}, which is a folder")
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"path must name a regular file, got {given!r}, which is not one")
    if not target.parent.is_dir():
        raise ValueError(f"path must be in an existing folder, got {given!r}")
    return target


def replace_atomically(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Replace ``target`` by what ``write`` writes to a binary file, atomically.

    A new file gets the permissions the umask allows (as ``open`` would give it); a replaced file
    keeps its mode (and, where we may, its owner). On any failure the target is untouched and the
    temporary file removed.
    """
    folder = target.parent
    remove_stale_temporaries(folder)
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    temporary, handle = _create_temporary(target, existing)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        # Whatever failed (full disk, interrupt), the target is untouched: drop the partial file.
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _create_temporary(target: Path, existing: os.stat_result | None) -> tuple[Path, BinaryIO]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    # 0o666 lets the umask decide, as for any new file; a file we replace is matched below,
    # starting from 0o600 so that no one can open the data under wider permissions meanwhile.
    mode = 0o666 if existing is None else 0o600
    for _ in range(100):
        # Cut a long name: the temporary must fit in NAME_MAX (255) like the target does.
        name = f".{target.name[:200]}.{os.getpid()}-{_HOST}-{secrets.token_hex(4)}.tmp"
        temporary = target.parent / name
        try:
            descriptor = os.open(temporary, flags, mode)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"cannot create a temporary file beside {str(target)!r}")
    try:
        if existing is not None and hasattr(os, "fchmod"):
            os.fchmod(descriptor, stat.S_IMODE(existing.st_mode))
            if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(descriptor, existing.st_uid, existing.st_gid)
                except OSError:
                    pass  # only root may give a file away: the data still lands
        return temporary, os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path, target: str | None = None) -> list[str]:
    """Delete our temporary files in ``folder`` whose writers are gone; return their names.

    A file is stale when its writer's pid (encoded in its name) is dead on this host, or when it
    has not been written to for :data:`STALE_SECONDS`. Others' files and live writers' are left.
    ``target`` (a file name) limits this to the temporaries of saves to that file.
    """
    prefix = None if target is None else f".{target[:200]}."
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or (prefix is not None and not entry.name.startswith(prefix)):
            continue
        try:
            status = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(status.st_mode) and (
                now - status.st_mtime > STALE_SECONDS
                or _writer_is_dead(int(match["pid"]), match["host"])
            ):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue  # gone already, or not ours to delete
    return removed


def remove_temporaries_of(path: str) -> None:
    """Remove the stale temporaries a killed save to ``path`` left beside it (quietly)."""
    target = Path(os.path.realpath(path))
    remove_stale_temporaries(target.parent, target.name)


def _writer_is_dead(pid: int, host: str) -> bool:
    if host != _HOST or os.name != "posix" or pid == os.getpid() or not 0 < pid < 2**31:
        return False  # another machine's, or this process's (another thread may be saving)
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, under another user
    return False


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the OS allows opening a folder (POSIX)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
