"""Writing animations: RGB frames to GIF, MP4 or a PNG sequence; Plotly figures to HTML.

MP4 is H.264 in yuv420p with the moov atom first (plays in PowerPoint, Keynote and
browsers), encoded by the ffmpeg binary that imageio-ffmpeg ships, so no system
ffmpeg is needed; ffmpeg runs in its own process, beside the drawing, its exit status
and error output read (imageio-ffmpeg's own writer ignores both: on a full disk it left a
file without its moov atom and the export said "wrote"). GIF goes through Pillow. Every
export is written under a temporary name in the destination folder, checked (an MP4's
top-level boxes span the file and include moov), and renamed into place only then: a failed
or interrupted export leaves no half file, an existing file is never replaced unless
`overwrite=True` and never by a failed export, and a full disk (ENOSPC, or ffmpeg saying
"No space left") is a DiskFullError naming the file.
"""

from __future__ import annotations

import collections
import errno
import math
import os
import shutil
import subprocess
import tempfile
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..engine.files import DiskFullError, atomic_write, raise_if_full, write_text

FORMATS = {".gif": "GIF", ".mp4": "MP4 (H.264)", ".html": "standalone HTML (Plotly)",
           "": "PNG sequence (a folder)"}


#: the formats rendered frame by frame (FrameWriter); .html takes a Plotly figure instead
FRAME_SUFFIXES = tuple(s for s in FORMATS if s != ".html")


def output_kind(out) -> str:
    """'gif', 'mp4', 'html' or 'png' (a folder: no suffix, or an existing directory)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if out.is_dir() or suffix == "":
        return "png"
    if suffix in FORMATS:
        return suffix[1:]
    raise ValueError(f"out: format {suffix!r} not supported; allowed: .gif, .mp4, .html, "
                     f"or a folder name (no suffix) for a PNG sequence")


def check_path(out, what: str = "out", probe: bool = False) -> Path:
    """A path a file can be written to, as far as can be told before writing: no name longer than
    the file system allows (255 bytes), no existing file where a folder must be. (Permissions
    and a read-only file system show when writing, and the CLI names the file then; probe=True
    tries them at once, with a temporary file that is removed.)"""
    out = Path(out)
    for part in out.parts:
        if len(os.fsencode(part)) > 255:
            raise ValueError(f"{what}: the name {part[:40]}... is {len(os.fsencode(part))} bytes long; "
                             f"a file or folder name may have at most 255")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{what}: {parent} is a file, so {out} cannot be made under it")
            if probe:
                try:                 # before minutes of drawing: can anything be written there at all?
                    with tempfile.TemporaryFile(dir=parent):
                        pass
                except OSError as err:
                    raise ValueError(f"{what}: cannot write under {parent} ({err.strerror or err}); "
                                     f"choose a writable place for {out}") from None
            break
    return out


def check_out(out, overwrite: bool = False) -> Path:
    """The output path, refused if something is there already (unless overwrite)."""
    out = check_path(out, probe=True)
    output_kind(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"out: {out} already exists; choose another name or pass overwrite=True "
                              f"(--overwrite) to replace it")
    return out


def _partial(out: Path) -> Path:
    """The temporary name an export is written under; it carries the writer's process id, so
    that a later export can tell a dead writer's leftovers from a running one's."""
    return out.with_name(f".{out.name}.partial-{os.getpid()}{out.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_partials(out) -> list[Path]:
    """Remove what killed exports of `out` left behind (.NAME.partial-PID files or folders whose
    process is gone, and the older .NAME.partial.EXT names); returns the paths removed."""
    out = Path(out)
    removed = []
    if not out.parent.is_dir():
        return removed
    for p in out.parent.glob(f".{out.name}.partial*"):
        rest = p.name[len(f".{out.name}.partial"):]
        pid = rest[1:].split(".", 1)[0] if rest.startswith("-") else ""
        if pid.isdigit() and _alive(int(pid)):
            continue                        # another export of the same file is running
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def check_fps(fps) -> float:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= 120:
        raise ValueError(f"fps: must be a number of frames per second in (0, 120] (got {fps!r})")
    return float(fps)


def _replace(tmp: Path, out: Path) -> None:
    if out.is_dir() and not out.is_symlink():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.replace(out)


class FrameWriter:
    """Collects (H, W, 3) uint8 frames into out (kind from its suffix); use as a context manager.

    >>> with FrameWriter("orbit.mp4", fps=30) as w:      # doctest: +SKIP
    ...     for rgb in frames: w.write(rgb)
    """

    def __init__(self, out, fps: float, overwrite: bool = False, crf: int = 20, palette=None):
        """palette: a GIF's colours, (n <= 256, 3) uint8, one for every frame (viz.gif_palette: the
        colour maps' ramps, so D's smooth colours do not band); None: each frame's own 255."""
        self.out = check_out(out, overwrite)
        self.kind = output_kind(self.out)
        if self.kind == "html":
            raise ValueError("out: .html takes a Plotly figure (export.write_html), not rendered frames")
        self.fps, self.crf = check_fps(fps), crf
        self.tmp = _partial(self.out)
        self.count = 0
        self.size: tuple[int, int] | None = None
        self._gif: list = []
        self._ffmpeg = None
        self._palette = None if palette is None else palette_image(palette)

    def __enter__(self):
        clean_partials(self.out)
        if self.kind == "png":
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp.mkdir(parents=True)
        else:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if self.size is None:
            self.size = (w, h)
        elif self.size != (w, h):
            raise ValueError(f"frame {self.count} is {w}x{h}, the first was {self.size[0]}x{self.size[1]}")
        try:
            if self.kind == "mp4":
                if self._ffmpeg is None:
                    self._ffmpeg = self._start_ffmpeg(w, h)
                try:
                    self._ffmpeg.send(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
                except OSError as err:          # ffmpeg stopped (a broken pipe): its own words say why
                    self._ffmpeg_failed(err)
            elif self.kind == "gif":
                from PIL import Image
                img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
                self._gif.append(to_palette(img, rgb, self._palette) if self._palette is not None else
                                 img.quantize(colors=255, method=Image.Quantize.FASTOCTREE))
            else:
                from PIL import Image
                Image.fromarray(rgb).save(self.tmp / f"frame_{self.count:05d}.png", compress_level=1)
        except DiskFullError:
            raise
        except OSError as err:
            raise_if_full(err, self.out)
            raise
        self.count += 1

    def _start_ffmpeg(self, w, h):
        return FfmpegPipe(self.tmp, w, h, self.fps, self.crf)

    def _ffmpeg_failed(self, err: OSError | None = None, problem: str = ""):
        """Raise why ffmpeg failed: a DiskFullError when the disk is full (ENOSPC, ffmpeg's "No space
        left", or under NEARLY_FULL_BYTES free where it wrote), else an OSError with `problem` and the
        end of ffmpeg's own message."""
        said = self._ffmpeg.stop() if self._ffmpeg is not None else ""
        self._ffmpeg = None
        full = (err is not None and err.errno in (errno.ENOSPC, errno.EDQUOT)) or "No space left" in said \
            or "Disk quota exceeded" in said or _nearly_full(self.tmp.parent)
        if full:
            raise DiskFullError(errno.ENOSPC, f"no space left on the device while writing {self.out} (nothing "
                                              f"was written there; free some space and export again)")
        words = " ".join(said.split())[-300:]
        detail = "; ".join(x for x in (problem, words) if x) or (err.strerror or str(err) if err else "no message")
        raise OSError(errno.EIO, f"ffmpeg could not write {self.out}: {detail}")

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                if self.count == 0:
                    raise ValueError("no frames to write")
                try:
                    self._finish()
                    if self.kind != "gif":        # a GIF is made in memory and written whole
                        _replace(self.tmp, self.out)
                except DiskFullError:
                    raise
                except OSError as err:
                    raise_if_full(err, self.out)
                    raise
        finally:
            if self._ffmpeg is not None:
                self._ffmpeg.stop(kill=True)
                self._ffmpeg = None
            if self.tmp.is_dir():
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                self.tmp.unlink(missing_ok=True)
        return False

    def _finish(self):
        if self.kind == "mp4":
            code, _ = self._ffmpeg.finish()            # waits for ffmpeg to write the file
            problem = f"it exited with status {code}" if code else \
                mp4_problem(self.tmp) if self.tmp.exists() else "it wrote no file"
            if problem:                                # checked before the rename: no broken file in place
                self._ffmpeg_failed(problem=problem)
            self._ffmpeg = None
        elif self.kind == "png":
            if not any(self.tmp.glob("frame_*.png")):
                raise OSError(errno.EIO, f"no frames were written to {self.out}")
        elif self.kind == "gif":
            first, *rest = self._gif
            atomic_write(self.out, lambda f: first.save(f, format="GIF", save_all=True, append_images=rest, loop=0,
                                                        duration=max(20, round(1000 / self.fps)), disposal=1,
                                                        optimize=False))
            self._gif = []


def palette_image(colours) -> "Image":
    """A Pillow palette image ("P" mode) holding `colours` ((n <= 256, 3) uint8), for quantize()."""
    from PIL import Image

    colours = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    if not 1 <= len(colours) <= 256:
        raise ValueError(f"palette: {len(colours)} colours; a GIF holds 1 to 256")
    img = Image.new("P", (1, 1))
    flat = np.zeros((256, 3), np.uint8)
    flat[: len(colours)] = colours
    flat[len(colours):] = colours[-1]            # unused entries repeat a used colour, never black
    img.putpalette(flat.ravel().tolist())
    return img


def to_palette(img, rgb: np.ndarray, palette) -> "Image":
    """img in `palette`'s colours, without dithering. Pillow finds the nearest colour through a
    cache of reduced precision (white came out 252,253,254: a tinted background): pixels whose
    colour is in the palette exactly are given that colour."""
    from PIL import Image

    out = img.quantize(palette=palette, dither=Image.Dither.NONE)
    pal = np.asarray(palette.getpalette()[:768], dtype=np.int64).reshape(-1, 3)
    keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    keys, first = np.unique(keys, return_index=True)
    px = np.asarray(rgb, dtype=np.int64)
    packed = (px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2]
    at = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
    exact = keys[at] == packed
    idx = np.asarray(out).copy()
    idx[exact] = first[at[exact]]
    fixed = Image.fromarray(idx.astype(np.uint8), "P")
    fixed.putpalette(palette.getpalette())
    return fixed


class FfmpegPipe:
    """ffmpeg encoding raw RGB frames from its stdin into `path`: H.264 in yuv420p, the moov atom
    first (what imageio-ffmpeg's write_frames ran, with even sizes), in a session of its own (so
    Ctrl-C reaches Python, which stops it). Its error output is kept (the last lines), its exit
    status read: a failure can say why, and a full disk is told from other failures."""

    def __init__(self, path, w: int, h: int, fps: float, crf: int = 20):
        import imageio_ffmpeg

        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{w}x{h}",
               "-pix_fmt", "rgb24", "-r", str(Fraction(fps).limit_denominator()), "-i", "-", "-an",
               "-vcodec", "libx264", "-pix_fmt", "yuv420p"]
        if w % 2 or h % 2:                       # yuv420p needs even sizes (imageio's macro_block_size=2)
            cmd += ["-vf", f"scale={w + w % 2}:{h + h % 2}"]
        cmd += ["-v", "error", "-preset", "veryfast", "-crf", str(crf), "-movflags", "+faststart", "-f", "mp4",
                str(path)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._lines: collections.deque = collections.deque(maxlen=40)
        self._reader = threading.Thread(target=self._read, name="ffmpeg-stderr", daemon=True)
        self._reader.start()
        self.said = ""

    def _read(self):
        for line in iter(self.proc.stderr.readline, b""):
            self._lines.append(line.decode("utf-8", "replace").rstrip())

    def send(self, data: bytes) -> None:
        """One frame's bytes; an OSError (BrokenPipeError) when ffmpeg has stopped."""
        self.proc.stdin.write(data)

    def finish(self, timeout: float | None = None) -> tuple[int, str]:
        """Close its input and wait: (exit status, its error output)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass                                 # it stopped already; its status says why
        code = self.proc.wait(timeout)
        self._reader.join(5)
        self.said = "\n".join(self._lines)
        return code, self.said

    def stop(self, kill: bool = False) -> str:
        """Stop it (at once with kill, else let it finish within 10 s): its error output."""
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            try:
                self.finish(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            self.finish()
        return self.said


def mp4_problem(path) -> str:
    """'' when `path` is a whole MP4 as far as its top-level boxes tell (they span the file
    exactly, and moov and mdat are among them), else what is wrong (empty, truncated, no moov:
    what a full disk left behind)."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    kinds, pos = [], 0
    with open(path, "rb") as f:
        while pos < size and len(kinds) < 10_000:
            f.seek(pos)
            head = f.read(16)
            if len(head) < 8:
                return "the file ends inside a box header (truncated)"
            n, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if n == 1:
                n = int.from_bytes(head[8:16], "big") if len(head) == 16 else 0
            elif n == 0:
                n = size - pos
            if n < 8 or pos + n > size:
                return f"its {kind.decode('latin-1')!r} box runs past the end of the file (truncated)"
            kinds.append(kind)
            pos += n
    if b"moov" not in kinds:
        return "it has no moov atom"
    if b"mdat" not in kinds:
        return "it has no media data (mdat)"
    return ""


#: a folder's file system with less free space than this counts as full when a writer failed there
NEARLY_FULL_BYTES = 1 << 20


def _nearly_full(folder) -> bool:
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < NEARLY_FULL_BYTES


def write_html(fig, out, overwrite: bool = False, fill: bool = True) -> Path:
    """A Plotly figure as one standalone HTML file: plotly.js embedded, no network needed.
    fill: the figure fills the browser window and follows its size (Plotly's responsive config,
    no fixed width or height: a projector's full screen or a laptop's window alike)."""
    out = check_out(out, overwrite)
    if output_kind(out) != "html":
        raise ValueError(f"out: {out} must end in .html")
    clean_partials(out)
    size = {}
    if fill:
        fig = fig.__class__(fig)                  # a copy: the caller's figure keeps its size
        fig.update_layout(width=None, height=None, autosize=True)
        size = dict(default_width="100%", default_height="100vh")
    html = fig.to_html(include_plotlyjs=True, include_mathjax=False, full_html=True, auto_play=False,
                       config={"displaylogo": False, "responsive": True}, **size)
    if fill:                                      # no page margin: 100vh would scroll
        html = html.replace("<body>", '<body style="margin:0;overflow:hidden">', 1)
    write_text(out, html)
    return out
