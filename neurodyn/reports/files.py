"""Files written by neurodyn: atomically, with the user's permissions, errors naming the user's path.

A file appears complete or not at all: it is written to a temporary file in
the same folder and renamed over the target. The file gets the permissions any
new file of the user gets (``0666`` less the umask), not the ``0600`` of a
temporary file; an error names the path the user gave, never the temporary one.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> path = atomic_write(os.path.join(folder, "a.txt"), "hello\\n")
>>> path.read_text()
'hello\\n'
>>> atomic_write(os.path.join(folder, "missing", "a.txt"), "x")
Traceback (most recent call last):
...
OSError: cannot write .../missing/a.txt: No such file or directory
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "write_csv", "write_json", "user_mode"]


def user_mode() -> int:
    """The permission bits of a new file for this user: ``0o666`` less the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path, content) -> Path:
    """Write ``content`` to ``path`` atomically; returns the path.

    ``content`` is ``bytes``, ``str`` (written as UTF-8) or a callable that
    writes the file whose name it is given (e.g. a plot's ``savefig``; the name
    keeps ``path``'s extension). Raises ``OSError("cannot write PATH: why")``.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                                   suffix=f".tmp{path.suffix}")
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        os.chmod(tmp, user_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


def write_csv(path, header, rows) -> Path:
    """A CSV file (``header`` then ``rows``; ``None`` and non-finite floats as empty cells), atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and v != v) else v for v in row])
    return atomic_write(path, buf.getvalue())


def write_json(path, data) -> Path:
    """A JSON file (indented, ending with a newline), atomically."""
    return atomic_write(path, json.dumps(data, indent=2) + "\n")
