"""Media helpers over ffmpeg: fingerprint, probe and cut, each ffmpeg call bounded by a timeout.

Commands are built with ffmpeg-python and run with subprocess so that a hung decoder is killed (ffmpeg-python's
own `.run()` has no timeout). Clips are written to a temporary name and renamed, so a crash never leaves a
half-written clip that a later build would take for a finished one.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from humansense.schema import ClipSpec

CUTTER_VERSION = "1"  # bump when the encoding below changes: it is part of every clip's cache key
_CHUNK = 1 << 20


class MediaError(Exception):
    """A media file that ffmpeg cannot read or cut; `reason` is a stable category for reports."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def fingerprint(path: Path) -> str:
    """A cheap content fingerprint: size plus the first and last MiB, every byte of a file under 2 MiB (a frame
    folder: its listing and ends).

    Hashing whole movies on every rebuild would cost minutes per source; a re-download or edit changes the size
    or the ends in practice, and a user can force recomputation with PREFECT_TASKS_REFRESH_CACHE.
    """
    h = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        for p in files:
            h.update(f"{p.name}:{p.stat().st_size};".encode())
        for p in files[:1] + files[-1:]:
            h.update(fingerprint(p).encode())
        return h.hexdigest()[:32]
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(_CHUNK))
        if size > _CHUNK:  # the rest of a file under 2 MiB, else its last MiB
            f.seek(max(_CHUNK, size - _CHUNK))
            h.update(f.read(_CHUNK))
    return h.hexdigest()[:32]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ProbeResult:
    duration_s: float
    width: int | None
    height: int | None
    fps: float | None
    frame_count: int | None
    has_video: bool
    has_audio: bool


# Failures that say nothing about the input: not recorded, so the next build tries the clip again.
TRANSIENT_REASONS = frozenset({"ffmpeg timed out", "ffmpeg missing"})
SPAN_TOLERANCE_S = 0.5  # container durations are rounded; a span ending this little past the end still cuts


# Third-party media are read as local files of known container formats only: a "video" that is really a playlist
# (HLS, concat) could otherwise pull other files, or URLs, into a published clip.
SAFE_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,wav,mp3,flac,ogg,aac,image2,mjpeg"
SAFE_INPUT = {"protocol_whitelist": "file", "format_whitelist": SAFE_FORMATS}
SAFE_INPUT_ARGS = [arg for key, value in SAFE_INPUT.items() for arg in (f"-{key}", value)]


def run_ffmpeg_bytes(args: list[str], timeout_s: float, what: str, stdin: bytes | None = None) -> bytes:
    """Run ffmpeg or ffprobe and return its stdout; a time-out, a missing binary or a failure becomes MediaError
    (the stderr tail says why), so one bad file never stops a build."""
    return run_ffmpeg_both(args, timeout_s, what, stdin)[0]


def run_ffmpeg_both(args: list[str], timeout_s: float, what: str, stdin: bytes | None = None) -> tuple[bytes, bytes]:
    """`run_ffmpeg_bytes`, keeping stderr too (ffmpeg reports there what it wrote)."""
    try:
        run = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MediaError("ffmpeg timed out", f"{what}: no result after {timeout_s:g} s") from None
    except FileNotFoundError:
        raise MediaError("ffmpeg missing", f"{args[0]} is not installed (apt-get install ffmpeg)") from None
    if run.returncode != 0:
        stderr = run.stderr.decode(errors="replace")
        for code, words in _MACHINE_ERRORS.items():  # the machine's fault, not the input's: stop the build
            if words in stderr:
                raise OSError(code, words, what)
        raise MediaError("unreadable media", f"{what}: {stderr.strip()[-300:]}")
    return run.stdout, run.stderr


# ffmpeg's words for a full or read-only disk: never a verdict on the media (no quarantine is recorded).
_MACHINE_ERRORS = {errno.ENOSPC: "No space left on device", errno.EROFS: "Read-only file system"}


def _rate(text: str | None) -> float | None:
    if not text or text in {"0/0", "0"}:
        return None
    num, _, den = text.partition("/")
    return float(num) / float(den or 1) if float(den or 1) else None


def probe_source(path: Path, timeout_s: float = 60.0) -> ProbeResult:
    """`probe` of a source file, once per process for each (path, size, mtime): a source feeding many clips (an AVA
    movie, a RealTalk conversation) is probed once, not once per clip."""
    stat = Path(path).stat() if Path(path).exists() else None
    if stat is None:
        return probe(path, timeout_s)
    return _probe_once(str(path), stat.st_size, stat.st_mtime_ns, timeout_s)


@functools.lru_cache(maxsize=4096)
def _probe_once(path: str, size: int, mtime_ns: int, timeout_s: float) -> ProbeResult:
    return probe(Path(path), timeout_s)


def probe(path: Path, timeout_s: float = 60.0) -> ProbeResult:
    if not path.exists():
        raise MediaError("missing media", f"{path} does not exist")
    args = ["ffprobe", "-v", "error", *SAFE_INPUT_ARGS, "-show_format", "-show_streams", "-of", "json", str(path)]
    info = json.loads(run_ffmpeg_bytes(args, timeout_s, f"ffprobe {path}").decode() or "{}")
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = info.get("format", {}).get("duration") or (video or {}).get("duration")
    if video is None and audio is None or duration is None:
        raise MediaError("unreadable media", f"{path}: no audio or video stream with a duration")
    frames = (video or {}).get("nb_frames")
    return ProbeResult(
        duration_s=float(duration),
        width=video and video.get("width"),
        height=video and video.get("height"),
        fps=_rate((video or {}).get("avg_frame_rate")) or _rate((video or {}).get("r_frame_rate")),
        frame_count=int(frames) if frames and str(frames).isdigit() else None,
        has_video=video is not None,
        has_audio=audio is not None,
    )


def _span_end(spec: ClipSpec, info: ProbeResult, src: Path) -> float:
    """Where the cut ends: the span's end, whose required part must lie within the media (a span past the end is
    refused with the figures, never truncated: a truncated clip would miss what the question asks about); context
    after the required part is cut short at the media's end."""
    if spec.start_s >= info.duration_s:
        raise MediaError("span outside media", f"{src}: starts at {spec.start_s:g} s, media lasts {info.duration_s:g} s")
    required = spec.end_s if spec.required_end_s is None else spec.required_end_s
    if required > info.duration_s + SPAN_TOLERANCE_S:
        raise MediaError("span past the end", f"{src}: the span {spec.start_s:g}-{required:g} s ends past the "
                                              f"media's {info.duration_s:.2f} s")
    return min(spec.end_s, info.duration_s)


def _cut_audio(spec: ClipSpec, src: Path, tmp: Path, out_path: Path, timeout_s: float) -> ProbeResult:
    info = probe_source(src, timeout_s)
    if not info.has_audio:
        raise MediaError("no audio stream", f"{src} has no audio stream")
    end = _span_end(spec, info, src)
    cmd = (ffmpeg.input(str(src), ss=f"{spec.start_s:.3f}", **SAFE_INPUT).audio
           .output(str(tmp), f="wav", t=f"{end - spec.start_s:.3f}", acodec="pcm_s16le", ac=1, map_metadata=-1)
           .global_args("-nostdin", "-loglevel", "error"))
    return _encode(cmd, src, tmp, out_path, timeout_s, "audio")


def _encode(cmd, src: Path, tmp: Path, out_path: Path, timeout_s: float, stream: str) -> ProbeResult:
    """Run an ffmpeg-python command writing `tmp`, check the result has `stream`, then rename it into place.

    One process per clip: what the clip is (frames, duration, size, rate, streams) is read from ffmpeg's own
    progress report and output header, not from a second ffprobe."""
    try:
        args = cmd.overwrite_output().global_args("-progress", "pipe:1", "-nostats").compile()
        args = [a if a != "error" or args[k - 1] != "-loglevel" else "info" for k, a in enumerate(args)]
        result = _encoded(run_ffmpeg_both(args, timeout_s, f"cutting {src}"))
        if not (result.has_audio if stream == "audio" else result.has_video) or result.duration_s <= 0:
            raise MediaError("unreadable media", f"{src}: the cut clip has no {stream}")
        os.replace(tmp, out_path)
        return result
    finally:
        tmp.unlink(missing_ok=True)


_OUTPUT_VIDEO = re.compile(r"Stream #0:\d+.*?: Video: .*?, (\d+)x(\d+)[ ,].*?, (\d+(?:\.\d+)?) fps")


def _encoded(outputs: tuple[bytes, bytes]) -> ProbeResult:
    """The clip as ffmpeg reported writing it: `-progress` lines (frames, last timestamp) and the Output header."""
    progress = dict(line.split("=", 1) for line in outputs[0].decode(errors="replace").splitlines() if "=" in line)
    header = outputs[1].decode(errors="replace").partition("\nOutput #0")[2]
    video = _OUTPUT_VIDEO.search(header)
    frames = int(progress.get("frame", "0") or 0)
    out_time = int(progress.get("out_time_us", "0") or 0) / 1e6
    fps = float(video.group(3)) if video else None
    # A CFR video lasts frames / fps (its last frame included); audio ends at its last timestamp.
    duration = max(frames / fps if video and fps else 0.0, out_time)
    return ProbeResult(duration_s=round(duration, 6), width=int(video.group(1)) if video else None,
                       height=int(video.group(2)) if video else None, fps=fps,
                       frame_count=frames if video else None, has_video=video is not None and frames > 0,
                       has_audio=": Audio: " in header)


def _crop_filter(stream, spec: ClipSpec):
    c = spec.crop
    w, h = f"iw*{c.right - c.left:.6f}", f"ih*{c.bottom - c.top:.6f}"
    cx, cy = f"iw*{(c.left + c.right) / 2:.6f}", f"ih*{(c.top + c.bottom) / 2:.6f}"
    if c.square:
        w = h = f"min(max({w},{h}),min(iw,ih))"
    # Centre the box and keep it inside the frame; ffmpeg evaluates ow/oh after w/h.
    return stream.filter("crop", w, h, f"clip({cx}-ow/2,0,iw-ow)", f"clip({cy}-oh/2,0,ih-oh)")


def cut_clip(spec: ClipSpec, out_path: Path, *, max_height: int = 480, crf: int = 23, preset: str = "veryfast",
             timeout_s: float = 300.0) -> ProbeResult:
    """Cut `spec` into an H.264 (+AAC) MP4 at constant frame rate starting at 0 (or, for an audio clip, a 16-bit
    PCM WAV at the source's rate), and return its probe."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.stem}.{os.getpid()}.tmp{spec.suffix}")
    src = Path(spec.source_path)
    if spec.output == "audio":
        return _cut_audio(spec, src, tmp, out_path, timeout_s)
    audio = None
    if spec.kind == "span":
        info = probe_source(src, timeout_s)
        end = _span_end(spec, info, src)
        inp = ffmpeg.input(str(src), ss=f"{spec.start_s:.3f}", **SAFE_INPUT)
        out_opts = {"t": f"{end - spec.start_s:.3f}"}
        if not info.has_video:
            raise MediaError("no video stream", f"{src} has no video stream")
        video = inp.video
        audio = inp.audio if info.has_audio else None
    else:
        if not src.is_dir():
            raise MediaError("missing media", f"frame folder {src} does not exist")
        inp = ffmpeg.input(str(src / spec.frame_pattern), framerate=spec.fps, start_number=spec.first_frame,
                           **SAFE_INPUT)
        out_opts = {"frames:v": spec.frame_count} if spec.frame_count else {}
        video = inp.video
    if spec.crop is not None:
        video = _crop_filter(video, spec)
    video = video.filter("scale", -2, f"trunc(min(ih,{max_height})/2)*2")
    streams = [video] + ([audio] if audio is not None else [])
    codec = {"vcodec": "libx264", "pix_fmt": "yuv420p", "crf": crf, "preset": preset, "fps_mode": "cfr",
             "movflags": "+faststart", "threads": 1, "map_metadata": -1}
    if audio is not None:
        codec.update(acodec="aac", ac=2, ar=44100)
    cmd = ffmpeg.output(*streams, str(tmp), f="mp4", **out_opts, **codec).global_args("-nostdin", "-loglevel", "error")
    return _encode(cmd, src, tmp, out_path, timeout_s, "video")
