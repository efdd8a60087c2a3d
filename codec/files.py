"""Files written whole or not at all: a temporary file beside the target, renamed over it at the end.

A reader (or a crash) never sees half a file, and the finished file gets the permissions any new file of
this user gets (``tempfile.mkstemp`` creates it readable by its owner only, which would hide shipped
checkpoints, decoded images and cache entries from other users of a shared machine).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _new_file_mode() -> int:
    # the umask can only be read by setting it; set it straight back
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".part"):
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path`` (with the
    usual permissions of a new file), when it fails it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
