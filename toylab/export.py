"""Animation writers: GIF (Pillow) and MP4 (H.264 through imageio-ffmpeg's own ffmpeg,
so no system ffmpeg is needed; yuv420p so PowerPoint, Keynote and browsers play it)."""

from __future__ import annotations

from pathlib import Path

ANIMATION_FORMATS = (".gif", ".mp4")


def writer_for(path, fps: int):
    """A matplotlib animation writer chosen by the file's suffix."""
    from matplotlib import animation, rcParams

    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return animation.PillowWriter(fps=fps)
    if suffix == ".mp4":
        import imageio_ffmpeg
        rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        return animation.FFMpegWriter(fps=fps, codec="libx264",
                                      extra_args=["-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "20"])
    raise ValueError(f"out: animation format {suffix!r} not supported; allowed: {', '.join(ANIMATION_FORMATS)}")
