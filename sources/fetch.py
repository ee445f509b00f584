"""The fetch stage: a YouTube source configured with a manifest or channel/playlist URLs (`sources.<name>.fetch`) is
brought up to date in its download folder (the source's root) before anything else runs.

What is listed now (the manifest's rows, then every video of each URL) goes through `youtube.download`: the
download archive means only new videos are fetched, each with its info.json and section. `status.json` in the
folder keeps every video's latest status; a video fetched earlier that is no longer listed, or whose page now says
private, removed or unavailable, is *withdrawn*: the source adapter leaves it out of the build (the takedown policy
holds for the scheduled rebuild too), and the fetch quarantine names it with yt-dlp's reason. Counts go to the
build report and the card.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from humansense.io import write_json, write_jsonl
from humansense.schema import Quarantined
from humansense.sources.youtube import FetchConfig, ManifestRow, VideoStatus, download, list_videos, read_manifest


STATUS_FILE = "status.json"
WITHDRAWN = frozenset({"private", "removed", "unavailable"})  # the owner took it down: it leaves the build
FETCHED = frozenset({"downloaded", "already downloaded"})
NO_LONGER_LISTED = "no longer listed by the manifest or the channel"


def read_statuses(folder: Path) -> list[VideoStatus]:
    path = Path(folder) / STATUS_FILE
    if not path.exists():
        return []
    try:
        return [VideoStatus.model_validate(s) for s in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, TypeError):
        return []  # a damaged status file is rebuilt by the next fetch


def withdrawn_ids(folder: Path) -> set[str]:
    """Videos of the download folder whose latest status says they were taken down or are no longer listed."""
    return {s.video_id for s in read_statuses(folder) if s.video_id and s.status in WITHDRAWN}


def listed_rows(cfg: FetchConfig) -> tuple[list[ManifestRow], list[str]]:
    """What the configuration lists now: the manifest's rows, then each URL's videos (duplicates once)."""
    rows, problems = read_manifest(cfg.manifest) if cfg.manifest else ([], [])
    for url in cfg.urls:
        try:
            rows += list_videos(url, cfg, first_row=len(rows) + 2)
        except Exception as e:  # yt-dlp's DownloadError and network errors: the listing is reported, not fatal
            problems.append(f"{url}: the listing could not be read ({str(e)[:300]})")
    unique = {r.url: r for r in reversed(rows)}  # the first row of a URL wins
    return [r for r in rows if unique[r.url] is r], problems


def fetch_source(name: str, cfg: FetchConfig, folder: Path, quarantine_file: Path) -> dict:
    """Fetch what is new into `folder`, record every video's status and quarantine what could not be fetched."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    before = {s.url: s for s in read_statuses(folder)}
    rows, problems = listed_rows(cfg)
    statuses = download(rows, folder, cfg, {u: s.video_id for u, s in before.items() if s.video_id})
    for s in statuses:  # a failing page still names the video it was, so a withdrawn video leaves the build
        if s.video_id is None and s.url in before:
            s.video_id = before[s.url].video_id
    listed = {r.url for r in rows}
    statuses += [s.model_copy(update={"status": "removed", "detail": NO_LONGER_LISTED, "row": 0})
                 for url, s in before.items() if url not in listed and s.video_id]
    write_json(folder / STATUS_FILE, [s.model_dump() for s in statuses])
    where = cfg.manifest.name if cfg.manifest else None  # the file's name: no machine path reaches the release
    quarantined = [Quarantined(stage="fetch", source=name, reason="bad manifest row", detail=p, file=where)
                   for p in problems]
    quarantined += [Quarantined(stage="fetch", source=name, reason=f"video {s.status}",
                                detail=f"{s.url}: {s.detail}" if s.detail else s.url, file=where, row=s.row or None,
                                record_id=s.video_id) for s in statuses if s.status not in FETCHED]
    write_jsonl(quarantine_file, quarantined)
    counts = Counter(s.status for s in statuses)
    return {"listed": len(rows), "statuses": dict(sorted(counts.items())),
            "new": sorted(s.video_id for s in statuses if s.status == "downloaded" and s.video_id),
            "withdrawn": sorted(s.video_id for s in statuses if s.status in WITHDRAWN and s.video_id),
            "problems": len(problems), "quarantine": str(quarantine_file)}


def fetch_line(name: str, result: dict) -> str:
    """One line on a source's fetch, for the card and the run's summary."""
    statuses = ", ".join(f"{k} {n}" for k, n in result["statuses"].items())
    withdrawn = f"; withdrawn: {', '.join(result['withdrawn'])}" if result.get("withdrawn") else ""
    return f"{name}: {result['listed']} videos listed; {statuses}{withdrawn}"
