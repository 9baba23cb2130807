"""Reading a run folder's files, guarded: the one way every file of a run is read (issue #28).

A run folder may come from anyone (a student's hand-in, a download, a shared `--runs-dir`), so
it is read as hostile input:

- **regular files inside the folder only.** Every name is opened relative to the folder's own
  descriptor, component by component, with O_NOFOLLOW (a symbolic link anywhere inside the
  folder is refused, wherever it leads) and O_NONBLOCK (a FIFO never blocks the open); then
  fstat must say a regular file (FIFOs, devices, sockets and folders are refused before a
  byte is read). A folder opened for the dashboard's Compare tab must also resolve inside the
  runs folder (`root`), and it must be the same folder on every later read; there a file with
  more than one name (a hard link, which looks like a regular file: it may be another run's
  file or one its owner never meant to show) is refused too. The command line reads a user's
  own folder and accepts hard links (a copy made with `cp -l` is a user's own).
- **size caps per kind** (`JSON_MAX`, `METRICS_MAX`, `DIGEST_MAX`, `VIEW_MAX`; a checkpoint's and
  a snapshot's derived from the run's config: `checkpoint_cap`, `snapshot_cap`), judged on the
  file's size before reading and enforced while reading.
- **JSON no deeper than `JSON_DEPTH`**, judged on the bytes (`json_depth`: one vectorised pass)
  before the parser (toylab.engine.safe_load.load_json) recurses.
- **arrays judged by their headers**: a .npz member's shape and dtype are read from its .npy
  header and compared with what the run's config says before its data is decompressed
  (`read_npz`), so a zip bomb is never inflated.

Every refusal is a `RunFileError` (a ValueError) naming the folder and the file and saying what
is wrong, never what the file contains; `short()` gives it relative to a runs folder, without
server paths, for the dashboard. No torch here: a figure reads a run without it.
"""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import stat
import zipfile
from array import array
from pathlib import Path

import numpy as np

#: config.json and status.json at most (a 1,024-member ensemble's config is ~150 kB)
JSON_MAX = 1 << 20
#: nesting of a JSON record at most (toylab writes 3 levels)
JSON_DEPTH = 32
#: checkpoint.pt.sha256 at most (toylab writes ~100 bytes)
DIGEST_MAX = 4096
#: metrics.csv at most: ~1.3 million rows of a default run (a bigger file is refused, never read)
METRICS_MAX = 128 << 20
#: target_view.npz at most (the default view is ~250 kB)
VIEW_MAX = 16 << 20
#: cells in one metrics.csv row and characters in one cell at most
CSV_COLUMNS, CSV_CELL = 256, 64
#: characters in one metrics.csv line at most (CSV_COLUMNS cells of CSV_CELL characters and their commas)
CSV_LINE = CSV_COLUMNS * (CSV_CELL + 1) + 2
#: metric arrays in one snapshot at most
SNAPSHOT_METRICS = 64
#: entries in a checkpoint's zip archive at most (torch writes one per tensor: ~100 for a run)
ZIP_MEMBERS = 100_000

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class RunFileError(ValueError):
    """A file of a run folder refused: `folder`, `name` (relative to the folder; '' for the folder
    itself) and `problem` (what is wrong: never the file's content). `detail` (the CLI's message
    only) may add a parser's words about the content."""

    def __init__(self, folder, name: str, problem: str, detail: str = ""):
        detail = " ".join(detail.split())[:400] if detail else ""      # one line, however long the reason
        if detail and not detail.startswith("("):
            detail = f" ({detail})"
        elif detail:
            detail = " " + detail
        self.folder, self.name, self.problem, self.detail = str(folder), name, problem, detail
        where = Path(folder) / name if name else Path(folder)
        super().__init__(f"{where}: {problem}{detail}")

    def short(self, label: str) -> str:
        """The refusal for someone who may not see the server's paths: 'run folder LABEL: NAME: problem'."""
        return f"run folder {label}: {self.name + ': ' if self.name else ''}{self.problem}"


class FileRefused(RunFileError):
    """A file refused before a byte of it was read: a link, not a regular file, too large, unreadable."""


def _kind(mode: int) -> str:
    return ("a symbolic link" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode) else "not a file")


class RunDir:
    """A run folder opened for guarded reading (see the module's docstring).

    path: as given (named in errors); root: a folder it must lie inside once every link is
    resolved (the dashboard's --runs-dir), or None (the command line: the user's own path)."""

    def __init__(self, path, root=None):
        self.path = Path(path)
        try:
            real = self.path.resolve(strict=True)
            st = os.stat(real)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.path} is not a toylab run (no such folder)") from None
        except (OSError, RuntimeError):
            raise FileRefused(self.path, "", "cannot be opened as a folder: not a toylab run") from None
        if root is not None:
            top = Path(root).resolve()
            if real == top or not real.is_relative_to(top):
                raise RunFileError(self.path, "", "leads out of the runs folder")
        if not stat.S_ISDIR(st.st_mode):
            raise FileRefused(self.path, "", f"is {_kind(st.st_mode)}: not a toylab run")
        self.real, self.root, self._id = real, root, (st.st_dev, st.st_ino)

    @classmethod
    def of(cls, folder) -> "RunDir":
        return folder if isinstance(folder, RunDir) else cls(folder)

    def error(self, name: str, problem: str, detail: str = "") -> RunFileError:
        return RunFileError(self.path, name, problem, detail)

    def refuse(self, name: str, problem: str) -> FileRefused:
        return FileRefused(self.path, name, problem)

    # ---- descriptors -------------------------------------------------------------------
    def _folder_fd(self) -> int:
        try:
            fd = os.open(self.real, _FLAGS | _DIR | _NOFOLLOW)
        except OSError:
            raise self.refuse("", "cannot be opened as a folder (moved or replaced while it was read)") from None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != self._id:
            os.close(fd)
            raise self.refuse("", "was replaced while it was read")
        return fd

    def _parent_fd(self, name: str) -> tuple[int, str]:
        """(a descriptor of name's folder, its last part): every folder on the way opened with
        O_NOFOLLOW, so a linked folder inside the run is refused."""
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise self.refuse(name, "is not a name inside the run folder")
        fd = self._folder_fd()
        try:
            for i, part in enumerate(parts[:-1]):
                sub = "/".join(parts[:i + 1])
                try:
                    nxt = os.open(part, _FLAGS | _DIR | _NOFOLLOW, dir_fd=fd)
                except OSError as err:
                    raise self._refusal(fd, part, sub, err) from None
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd, parts[-1]

    def _refusal(self, dfd: int, part: str, name: str, err: OSError) -> Exception:
        if err.errno == errno.ENOENT:
            return FileNotFoundError(f"{self.path / name}: missing")
        try:
            mode = os.stat(part, dir_fd=dfd, follow_symlinks=False).st_mode
        except OSError:
            mode = None
        if mode is not None and stat.S_ISLNK(mode):
            return self.refuse(name, "is a symbolic link; a run's files must be regular files inside its folder")
        if err.errno == errno.EACCES:
            return self.refuse(name, "cannot be read (permission denied)")
        if mode is not None:
            want = "a folder" if err.errno == errno.ENOTDIR else "a regular file"
            return self.refuse(name, f"is {_kind(mode)}, not {want}")
        return self.refuse(name, f"cannot be opened ({errno.errorcode.get(err.errno, err.errno)})")

    def open(self, name: str) -> int:
        """A read-only descriptor of the regular file `name` (inside the folder, no link on the way)."""
        dfd, last = self._parent_fd(name)
        try:
            try:
                fd = os.open(last, _FLAGS | _NOFOLLOW | _NONBLOCK, dir_fd=dfd)
            except OSError as err:
                raise self._refusal(dfd, last, name, err) from None
        finally:
            os.close(dfd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise self.refuse(name, f"is {_kind(st.st_mode)}, not a regular file")
        if self.root is not None and st.st_nlink > 1:
            os.close(fd)
            raise self.refuse(name, f"is a hard link ({st.st_nlink} names): a run in the runs folder is read only "
                                    f"from files that belong to it alone")
        return fd

    # ---- reading -----------------------------------------------------------------------
    def read(self, name: str, cap: int, what: str = "this file") -> bytes:
        """The bytes of `name`, at most `cap` of them (a bigger file is refused unread)."""
        fd = self.open(name)
        try:
            size = os.fstat(fd).st_size
            if size > cap:
                raise self.refuse(name, f"is {size:,} bytes, over the {cap:,}-byte limit for {what}")
            chunks, total = [], 0
            while True:
                chunk = os.read(fd, min(1 << 20, cap + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > cap:
                    raise self.refuse(name, f"grew past the {cap:,}-byte limit for {what} while it was read")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def stream(self, name: str, cap: int, what: str = "this file"):
        """A binary file object of `name` that refuses to read past `cap` bytes."""
        fd = self.open(name)
        size = os.fstat(fd).st_size
        if size > cap:
            os.close(fd)
            raise self.refuse(name, f"is {size:,} bytes, over the {cap:,}-byte limit for {what}")
        return io.BufferedReader(_Capped(fd, cap, lambda: self.refuse(
            name, f"grew past the {cap:,}-byte limit for {what} while it was read")))

    def exists(self, name: str) -> bool:
        """Whether `name` is there, as anything (a link counts: reading it is then refused)."""
        try:
            dfd, last = self._parent_fd(name)
        except FileNotFoundError:
            return False
        try:
            os.stat(last, dir_fd=dfd, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(dfd)

    def entries(self, name: str = "") -> dict[str, int]:
        """name (a folder inside the run, '' the run itself) -> {entry: its lstat mode}; {} when
        missing. A link or a file where the folder should be is refused."""
        if name:
            dfd, last = self._parent_fd(name)
            try:
                try:
                    fd = os.open(last, _FLAGS | _DIR | _NOFOLLOW, dir_fd=dfd)
                except FileNotFoundError:
                    return {}
                except OSError as err:
                    raise self._refusal(dfd, last, name, err) from None
            finally:
                os.close(dfd)
        else:
            fd = self._folder_fd()
        try:
            out = {}
            for n in os.listdir(fd):
                try:
                    out[n] = os.stat(n, dir_fd=fd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    pass
            return out
        finally:
            os.close(fd)

    # ---- what the folder holds -----------------------------------------------------------
    def check_kinds(self, want: dict[str, str], folder: str = "") -> dict[str, int]:
        """Refuse any entry of `folder` named in `want` that is not of the kind given ('file': a
        regular file, 'folder': a folder; a symbolic link is neither); entries not named are left
        alone. Returns the folder's entries (name -> lstat mode)."""
        entries = self.entries(folder)
        for n, mode in sorted(entries.items()):
            kind = want.get(n)
            if kind is None:
                continue
            name = f"{folder}/{n}" if folder else n
            if stat.S_ISLNK(mode):
                raise self.refuse(name, "is a symbolic link; a run's files must be regular files inside its folder")
            if kind == "file" and not stat.S_ISREG(mode) or kind == "folder" and not stat.S_ISDIR(mode):
                raise self.refuse(name, f"is {_kind(mode)}, not {'a regular file' if kind == 'file' else 'a folder'}")
        return entries

    def unlink(self, name: str) -> None:
        """Delete the regular file `name` of the folder (no link followed on the way)."""
        dfd, last = self._parent_fd(name)
        try:
            mode = os.stat(last, dir_fd=dfd, follow_symlinks=False).st_mode
            if not stat.S_ISREG(mode):
                raise self.refuse(name, f"is {_kind(mode)}, not a file the run wrote; not deleted")
            os.unlink(last, dir_fd=dfd)
        finally:
            os.close(dfd)

    def read_archive(self, name: str, cap: int, what: str = "this file") -> bytes:
        """The bytes of the zip archive `name` (a torch checkpoint), at most `cap` of them, with
        its members judged by their headers: the sizes they declare may add up to `cap` at most,
        so a deflated member that would inflate to gigabytes (a zip bomb) is refused unread. A
        file that is not a zip archive is returned as it is (its reader refuses it)."""
        data = self.read(name, cap, what)
        try:
            infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return data
        declared = sum(i.file_size for i in infos)
        if declared > cap or len(infos) > ZIP_MEMBERS:
            raise self.refuse(name, f"declares {declared:,} bytes in {len(infos):,} entries once unpacked, over "
                                    f"the {cap:,}-byte limit for {what}")
        return data

    def read_npz(self, name: str, cap: int, judge, required=()) -> dict:
        """The arrays of the .npz `name`, each judged by its .npy header before its data is read:
        judge(key, shape, dtype) returns a problem (a str) or None; `required` keys must be there.
        A member's data is inflated only when every header passed, so a zip bomb never is."""
        data = self.read(name, cap, "this kind of file")
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise self.error(name, "is damaged or not a NumPy .npz file") from None
        headers = {}
        try:
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else None
                if key is None or key in headers:
                    raise self.error(name, "holds an entry toylab does not write")
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in ((1, 0), (2, 0)):
                        raise self.error(name, f"{key}: an .npy version toylab does not write")
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                        else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(f)
                    header = f.tell()
                if dtype.hasobject or dtype.kind not in "biufU":
                    raise self.error(name, f"{key}: holds values of kind {dtype.kind!r}, not numbers")
                problem = judge(key, tuple(shape), dtype)
                if problem:
                    raise self.error(name, f"{key}: {problem}")
                if info.file_size > header + math.prod(shape) * dtype.itemsize:
                    raise self.error(name, f"{key}: its stored size disagrees with its header")
                headers[key] = info
            missing = [k for k in required if k not in headers]
            if missing:
                raise self.error(name, f"lacks {', '.join(missing)}")
            arrays = {}
            for key, info in headers.items():
                with zf.open(info) as f:
                    arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
            return arrays
        except RunFileError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as err:
            raise self.error(name, f"is damaged ({type(err).__name__})") from None

    def _lines(self, f, name: str):
        """f's lines, each at most CSV_LINE characters (read no further), so that one line of ten
        million cells is refused before the csv module splits it into a list of them (~140 MB)."""
        while line := f.readline(CSV_LINE + 1):
            if len(line) > CSV_LINE:
                raise self.error(name, f"has a line longer than {CSV_LINE:,} characters")
            yield line

    def read_table(self, name: str, cap: int = METRICS_MAX, whole=("step", "member", "seed")) -> dict:
        """A CSV table of numbers (metrics.csv) as column -> float64 array (`whole` columns as int64),
        streamed: at most `cap` bytes, CSV_COLUMNS columns, CSV_CELL characters a cell; a row of
        another length, a cell that is not a number, a whole column that is not whole: refused."""
        f = io.TextIOWrapper(self.stream(name, cap, "a metrics table"), encoding="utf-8", newline="")
        try:
            reader = csv.reader(self._lines(f, name))
            try:
                head = next(reader, None)
                if head is None:
                    return {}
                if len(head) > CSV_COLUMNS or len(set(head)) != len(head) \
                        or any(not 0 < len(h) <= CSV_CELL for h in head):
                    raise self.error(name, f"its header is not a list of up to {CSV_COLUMNS} distinct column names")
                cols = [array("d") for _ in head]
                for i, row in enumerate(reader, start=2):
                    if len(row) != len(head):
                        raise self.error(name, f"row {i} has {len(row)} cells, the header {len(head)}")
                    for col, cell in zip(cols, row):
                        try:
                            if len(cell) > CSV_CELL:
                                raise ValueError
                            col.append(float(cell) if cell else math.nan)
                        except ValueError:
                            raise self.error(name, f"row {i}: a cell is not a number") from None
            except csv.Error:
                raise self.error(name, f"is not a CSV table (line {reader.line_num})") from None
            except UnicodeDecodeError:
                raise self.error(name, "is not UTF-8 text") from None
        finally:
            f.close()
        out = {}
        for h, col in zip(head, cols):
            arr = np.frombuffer(col, np.float64).copy() if len(col) else np.zeros(0)
            if h in whole:
                if not np.all(np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2 ** 53)):
                    raise self.error(name, f"column {h}: not whole numbers")
                arr = arr.astype(np.int64)
            out[h] = arr
        return out


class _Capped(io.RawIOBase):
    """A file descriptor read as a raw stream that raises `over()` past `cap` bytes."""

    def __init__(self, fd: int, cap: int, over):
        self.fd, self.left, self.over = fd, cap, over

    def readable(self):
        return True

    def readinto(self, b) -> int:
        n = os.readv(self.fd, [memoryview(b)[:max(1, min(len(b), self.left + 1))]])
        self.left -= n
        if self.left < 0:
            raise self.over()
        return n

    def close(self):
        if not self.closed:
            os.close(self.fd)
        super().close()


# ---- JSON -----------------------------------------------------------------------------------
def json_depth(data: bytes) -> int:
    """The deepest nesting of [ and { in JSON text, strings skipped (escaped quotes included), in
    one vectorised pass: measured before json.loads recurses (100,000 levels: RecursionError).
    For text that is not JSON it is exact up to the first error, where the parser stops."""
    b = np.frombuffer(data, np.uint8)
    if b.size == 0:
        return 0
    idx = np.arange(b.size)
    plain = np.maximum.accumulate(np.where(b == 0x5C, -1, idx))          # last non-backslash at or before i
    run = np.zeros(b.size, np.int64)
    run[1:] = idx[:-1] - plain[:-1]                                     # backslashes just before i
    quote = (b == 0x22) & (run % 2 == 0)
    inside = (np.cumsum(quote) - quote) % 2 == 1
    step = ((b == 0x5B) | (b == 0x7B)).astype(np.int64) - ((b == 0x5D) | (b == 0x7D))
    step[inside | quote] = 0
    return int(np.cumsum(step).max(initial=0))


# ---- caps derived from a run's config ---------------------------------------------------------
def _mlp_size(fan_in: int, out: int, hidden: int, depth: int, pieces: int = 1) -> int:
    dims = [fan_in] + [hidden] * depth + [out]
    return sum((a + 1) * b * pieces for a, b in zip(dims, dims[1:])) + 4 * hidden * depth


#: the most mixture components a conditional run's networks may be told of (grid n <= 32)
MAX_CLASSES = 1024


#: batches a member's noise and data streams draw at once (streams.Buffered's chunk), kept in a checkpoint
STREAM_CHUNK = 32


def checkpoint_cap(cfg, members: int) -> int:
    """The most bytes a checkpoint of E members of this config may take: weights, optimiser moments,
    a method's memory (x6, in float64), the streams' buffered batches (STREAM_CHUNK batches of
    noise and data per member, x2) and their generators (1 MB a member), the rounds not yet
    logged, and 8 MB of room. A file bigger than this is not this run's checkpoint."""
    k = MAX_CLASSES if cfg.conditional else 0
    g = _mlp_size(cfg.z_dim + k, 2, cfg.g_hidden, cfg.g_depth)
    d = _mlp_size((2 + k) * cfg.pack, 1, cfg.d_hidden, cfg.d_depth, cfg.d_maxout)
    rows = STREAM_CHUNK * cfg.batch_size * cfg.pack * (cfg.z_dim + 16)
    return members * ((g + d) * 6 * 8 + rows * 8 * 2 + (1 << 20)) + cfg.log_every * members * 128 + (8 << 20)


def snapshot_cap(cfg, members: int) -> int:
    """The most bytes a snapshot file of E members of this config may take (float64, uncompressed)."""
    per = cfg.n_fixed * 4 + cfg.grid_size ** 2 + cfg.manifold_size ** 2 * 2 + SNAPSHOT_METRICS
    return members * per * 8 + (1 << 20)
