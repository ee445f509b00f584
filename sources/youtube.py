"""YouTube ingestion with yt-dlp's Python API: The Skin Deep "{THE AND}" videos for FR, RR and RG.

Input is a manifest of ours (the series has no published list): a CSV with header `url,start,end`, one video per
row; `url` is a watch URL or an 11-character id, `start`/`end` (seconds, optional) select a section to download
(yt-dlp's `--download-sections "*start-end"`). Each video is fetched once: a yt-dlp download archive records what
is done, so a rebuild never fetches it again. `info.json` is kept beside each file for provenance (id, title,
uploader, upload date, duration, licence). Format selection keeps a modest resolution. Downloads are spaced by
`sleep_s` and throttled to `rate_limit` bytes/s. Each row ends with a status: downloaded, already downloaded,
unavailable, private, geo-blocked, removed, or failed (with yt-dlp's message); the build report lists them.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from humansense.annotators.base import MissingExtra
from humansense.ids import UnsafeIdError, check_component
from humansense.media import MediaError, probe
from humansense.sections import Section


class FetchConfig(Section):
    """Fetching a YouTube source as the build's first stage (`sources/fetch.py`) into the source's `root`, which is
    then read as a download folder. Without `manifest` and `urls` nothing is fetched."""

    manifest: Path | None = None  # CSV `url,start,end` (relative to the config file); sections are downloaded
    urls: list[str] = []  # channel, playlist or page URLs: every video they list (new ones only, by the archive)
    format: str = "bv*[height<=480]+ba/b[height<=480]/bv*+ba/b"  # modest resolution, best audio
    rate_limit: int | None = 5_000_000  # bytes per second
    sleep_s: float = Field(default=2.0, ge=0)  # between downloads
    retries: int = Field(default=3, ge=0)  # yt-dlp's retries of a failed download
    socket_timeout_s: float = Field(default=30.0, gt=0)  # a connection silent this long is dropped and retried

    def configured(self) -> bool:
        return self.manifest is not None or bool(self.urls)

Status = Literal["downloaded", "already downloaded", "unavailable", "private", "geo-blocked", "removed", "failed"]
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
INFO_FIELDS = ("id", "title", "uploader", "channel", "upload_date", "duration", "license", "webpage_url",
               "description", "chapters")


class ManifestRow(BaseModel):
    row: int
    url: str
    start: float | None = None
    end: float | None = None


class VideoStatus(BaseModel):
    row: int
    url: str
    status: Status
    video_id: str | None = None
    file: str | None = None  # relative to the download folder
    info: dict = {}
    detail: str = ""


YoutubeConfig = FetchConfig  # the download settings (format, rate limit, sleep, retries, time-out)


def read_manifest(path: Path) -> tuple[list[ManifestRow], list[str]]:
    rows, problems = [], []
    with Path(path).open(encoding="utf-8", newline="") as f:
        for n, rec in enumerate(csv.DictReader(f), start=2):  # row 1 is the header
            url = (rec.get("url") or "").strip()
            if not url:
                problems.append(f"{Path(path).name}, row {n}: no url")
                continue
            if _YOUTUBE_ID.match(url):
                url = f"https://www.youtube.com/watch?v={url}"
            try:
                start = float(rec["start"]) if rec.get("start") else None
                end = float(rec["end"]) if rec.get("end") else None
            except ValueError:
                problems.append(f"{Path(path).name}, row {n}: start/end must be seconds")
                continue
            if start is not None and end is not None and end <= start:
                problems.append(f"{Path(path).name}, row {n}: end {end} is not after start {start}")
                continue
            rows.append(ManifestRow(row=n, url=url, start=start, end=end))
    return rows, problems


def list_videos(url: str, cfg: FetchConfig | None = None, first_row: int = 1) -> list[ManifestRow]:
    """Every video a channel, playlist or page lists (yt-dlp's flat extraction: one request per listing page, no
    video page), as manifest rows numbered from `first_row`; nested listings (a channel's tabs) are opened too.
    Raises DownloadError when the listing itself cannot be read."""
    try:
        import yt_dlp
    except ImportError:
        raise MissingExtra("YouTube source", "download", "yt-dlp") from None
    cfg = cfg or FetchConfig()
    params = {"extract_flat": "in_playlist", "quiet": True, "no_warnings": True, "logger": _QuietLogger(),
              "retries": cfg.retries, "socket_timeout": cfg.socket_timeout_s}
    urls: list[str] = []

    def walk(info: dict, depth: int) -> None:
        if info.get("_type") not in {"playlist", "multi_video"}:
            urls.append(info.get("webpage_url") or info.get("url") or url)
            return
        for entry in info.get("entries") or []:
            if not entry:
                continue
            if (entry.get("_type") == "playlist" or entry.get("ie_key") == "YoutubeTab") and depth < 2:
                with yt_dlp.YoutubeDL(params) as ydl:
                    walk(ydl.extract_info(entry["url"], download=False), depth + 1)
            elif entry.get("url"):
                urls.append(entry["url"])

    with yt_dlp.YoutubeDL(params) as ydl:
        walk(ydl.extract_info(url, download=False), 0)
    return [ManifestRow(row=first_row + k, url=u) for k, u in enumerate(dict.fromkeys(urls))]


def classify(message: str) -> Status:
    text = message.lower()
    if "private video" in text or "this video is private" in text:
        return "private"
    if "country" in text or "geo" in text and "restrict" in text or "not available in your" in text:
        return "geo-blocked"
    if "removed" in text or "terminated" in text or "no longer available" in text or "deleted" in text:
        return "removed"
    if "unavailable" in text or "404" in text or "not found" in text or "unsupported url" in text:
        return "unavailable"
    return "failed"


class _QuietLogger:
    """yt-dlp prints errors itself; they are reported per row in the status instead."""

    def debug(self, msg: str) -> None:
        pass

    info = warning = error = debug


def _youtube_id(url: str) -> str | None:
    m = re.search(r"(?:v=|youtu\.be/|shorts/)([A-Za-z0-9_-]{11})", url)
    return m.group(1) if m else None


def download(rows: list[ManifestRow], folder: Path, cfg: YoutubeConfig | None = None,
             known_ids: dict[str, str] | None = None) -> list[VideoStatus]:
    """Download each row's video once. A row whose video is in the download archive (by its YouTube id, or by the
    id `known_ids` maps its URL to from an earlier fetch) is not even requested again."""
    try:
        import yt_dlp
        from yt_dlp.utils import DownloadError, download_range_func
    except ImportError:
        raise MissingExtra("YouTube source", "download", "yt-dlp") from None
    cfg = cfg or YoutubeConfig()
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "download-archive.txt"
    statuses = []
    archived = {line.split(" ", 1)[-1] for line in archive.read_text().splitlines()} if archive.exists() else set()
    for k, row in enumerate(rows):
        known = _youtube_id(row.url) or (known_ids or {}).get(row.url)
        if known and known in archived:
            # in the archive: not even the page is fetched again
            info_file = folder / f"{known}.info.json"
            info = json.loads(info_file.read_text()) if info_file.exists() else {}
            files = sorted(p.name for p in folder.glob(f"{known}.*") if p.suffix not in {".json", ".part", ".ytdl"})
            statuses.append(VideoStatus(row=row.row, url=row.url, status="already downloaded", video_id=known,
                                        file=files[0] if files else None,
                                        info={f: info.get(f) for f in INFO_FIELDS if info.get(f) is not None}))
            continue
        if k:
            time.sleep(cfg.sleep_s)
        section = [(row.start or 0, row.end if row.end is not None else float("inf"))] if (
            row.start is not None or row.end is not None) else None
        params = {
            "format": cfg.format, "outtmpl": {"default": "%(id)s.%(ext)s", "infojson": "%(id)s"},
            "paths": {"home": str(folder)}, "writeinfojson": True, "download_archive": str(archive),
            "ratelimit": cfg.rate_limit, "retries": cfg.retries, "socket_timeout": cfg.socket_timeout_s,
            "quiet": True, "no_warnings": True, "noprogress": True, "restrictfilenames": True,
            "download_ranges": download_range_func(None, section) if section else None,
            "force_keyframes_at_cuts": False, "logger": _QuietLogger(),
        }
        before = archive.read_text() if archive.exists() else ""
        try:
            with yt_dlp.YoutubeDL({k: v for k, v in params.items() if v is not None}) as ydl:
                info = ydl.extract_info(row.url, download=True)
        except DownloadError as e:
            message = str(e).replace("\x1b[0;31mERROR:\x1b[0m ", "").removeprefix("ERROR: ")
            statuses.append(VideoStatus(row=row.row, url=row.url, status=classify(message), detail=message[:500]))
            continue
        video_id = str(info.get("id", ""))
        try:
            check_component(video_id, "video id")
        except UnsafeIdError as e:
            statuses.append(VideoStatus(row=row.row, url=row.url, status="failed", detail=str(e)))
            continue
        done = (archive.read_text() if archive.exists() else "") != before
        files = sorted(p.name for p in folder.glob(f"{video_id}.*") if p.suffix not in {".json", ".part", ".ytdl"})
        try:  # yt-dlp can report success for an empty section (a server without range requests, say)
            if not files or probe(folder / files[0]).duration_s <= 0.1:
                raise MediaError("empty download", f"{video_id}: no playable media was written")
        except MediaError as e:
            statuses.append(VideoStatus(row=row.row, url=row.url, status="failed", video_id=video_id,
                                        detail=f"{e.reason}: {e.detail}"))
            continue
        statuses.append(VideoStatus(
            row=row.row, url=row.url, status="downloaded" if done else "already downloaded", video_id=video_id,
            file=files[0] if files else None, info={k: info.get(k) for k in INFO_FIELDS if info.get(k) is not None}))
    (folder / "status.json").write_text(json.dumps([s.model_dump() for s in statuses], indent=1, ensure_ascii=False),
                                        encoding="utf-8")
    return statuses
