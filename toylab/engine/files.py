"""Files of a run, written so that a crash or a full disk never leaves half a file: each is made in
memory, written to a temporary name and renamed into place; a full disk is a DiskFullError and the
files written before are intact. Also the run folder's name (never reusing one) and giving freed
heap pages back to the OS between snapshots."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


def _libc_trim():
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        return trim
    except (OSError, AttributeError):      # not glibc (macOS, musl): nothing to do
        return None


_MALLOC_TRIM = _libc_trim()


_last_trim = 0.0


def release_free_heap(at_most_every: float = 0.0) -> None:
    """Give the malloc heap's free pages back to the OS (glibc's malloc_trim; a no-op elsewhere).

    The training step's short-lived buffers leave holes between the few small objects a
    snapshot keeps (its metrics, its Python objects); glibc keeps those holes resident, and
    on long runs RSS grew by MBs per snapshot although nothing was live there. A trimmed page
    is faulted in again when the heap grows back (slow on a virtual machine), so callers that
    run often (every snapshot of every run of a class) trim at most every `at_most_every`
    seconds, process-wide."""
    global _last_trim
    if _MALLOC_TRIM is None:
        return
    now = time.monotonic()
    if at_most_every and now - _last_trim < at_most_every:
        return
    _last_trim = now
    _MALLOC_TRIM(0)


# ---- atomic writes ---------------------------------------------------------
class DiskFullError(OSError):
    """A run file could not be written: the disk (or quota) is full. Earlier files are intact."""


def _write_file(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def atomic_write(path: Path, write) -> None:
    """Write `path` through a temporary file renamed into place. The content is made in
    memory first, so a full disk shows as ENOSPC on the write (never as a library's own
    error, such as torch's "unexpected pos") and is reported as a DiskFullError. Every file the
    library writes whole goes through here (write(f) writes the content to a binary file)."""
    path = Path(path)
    buf = io.BytesIO()
    write(buf)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise_if_full(err, path)
        raise _named(err, path) from None
    try:
        _write_file(fd, buf.getbuffer())
        os.chmod(tmp, 0o666 & ~_UMASK)      # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise_if_full(err, path)
            raise _named(err, path) from None
        raise


def _named(err: OSError, path: Path) -> OSError:
    """The same error naming the file meant (not its temporary name)."""
    return type(err)(err.errno, err.strerror, str(path)) if err.errno else err


def raise_if_full(err: OSError, path: Path) -> None:
    """A full disk or quota (ENOSPC, EDQUOT) while writing `path`, as a DiskFullError naming it."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFullError(err.errno, f"no space left on the device while writing {path} "
                                       f"(files written before are intact; free some space, then resume)") from None


def write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable))


def _jsonable(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_npz(path, arrays: dict) -> None:
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def write_torch(path, obj, tag: str = "") -> None:
    """torch.save(obj) to path, atomically, and its sha256 beside it (PATH.sha256; then `tag` on a
    line of its own: the run id and fingerprint a checkpoint was written for): a reader that only
    needs to know the file is the one written (a figure) checks that without torch."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    atomic_write(path, lambda f: f.write(data))
    write_text(_digest_file(path), digest_of(data, tag))


def digest_of(data: bytes, tag: str = "") -> str:
    """The text of a digest file: the sha256 of data, then the tag (if any), each on a line."""
    return hashlib.sha256(data).hexdigest() + (f"\n{tag}" if tag else "") + "\n"


def _digest_file(path) -> Path:
    return Path(path).with_name(Path(path).name + ".sha256")


def written_intact(path) -> bool:
    """path is byte for byte the file write_torch wrote (its sha256 matches the one kept beside it).
    False where there is no digest (a run from before) or it differs: then read the file to know."""
    try:
        return _digest_file(path).read_text().split()[:1] == [hashlib.sha256(Path(path).read_bytes()).hexdigest()]
    except OSError:
        return False


def write_csv(path, columns: dict[str, np.ndarray]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    names = list(columns)
    w.writerow(names)
    for row in zip(*(np.asarray(columns[n]).tolist() for n in names)):
        w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    write_text(path, buf.getvalue())


def read_csv(path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    names, body = rows[0], rows[1:]
    cols = {}
    for i, n in enumerate(names):
        vals = [r[i] for r in body]
        try:
            arr = np.array([float(v) for v in vals])
            cols[n] = arr.astype(np.int64) if n in ("step", "member", "seed") else arr
        except ValueError:
            cols[n] = np.array(vals)
    return cols


def new_run_dir(path) -> Path:
    """Create `path`, or `path-2`, `path-3`, ... if taken: a run never overwrites another."""
    path = Path(path)
    candidate, i = path, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            i += 1
            candidate = path.with_name(f"{path.name}-{i}")
