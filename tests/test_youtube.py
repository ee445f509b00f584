"""The YouTube source through yt-dlp's real download path, against a web host on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from humansense.media import probe
from humansense.sources.youtube import YoutubeConfig, classify, download, read_manifest


@pytest.fixture
def host(web_host):
    for name, seconds in (("interview", 12), ("couple", 6)):
        web_host.video(name, seconds)
    web_host.page("episode", "{THE AND} Married 6 Years with Sam &amp; Alex", "couple.mp4")
    yield web_host.url, web_host.hits


def test_downloads_sections_keeps_info_and_never_fetches_twice(host, tmp_path: Path):
    base, hits = host
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"url,start,end\n{base}/interview.mp4,2,6\n{base}/episode.html,,\n{base}/gone.mp4,,\n")
    rows, problems = read_manifest(manifest)
    assert problems == [] and [r.row for r in rows] == [2, 3, 4]
    out = tmp_path / "videos"
    first = download(rows, out, YoutubeConfig(sleep_s=0))
    assert [s.status for s in first] == ["downloaded", "downloaded", "unavailable"]
    interview, episode, gone = first
    assert 3.5 <= probe(out / interview.file).duration_s <= 5.0  # the 2-6 s section (cuts snap to keyframes)
    assert episode.info["title"].startswith("{THE AND} Married 6 Years") and probe(out / episode.file).has_audio
    assert json.loads((out / f"{interview.video_id}.info.json").read_text())["id"] == interview.video_id
    assert "404" in gone.detail
    stamps = {s.file: (out / s.file).stat().st_mtime_ns for s in first if s.file}
    again = download(rows, out, YoutubeConfig(sleep_s=0))
    assert [s.status for s in again] == ["already downloaded", "already downloaded", "unavailable"]
    assert {s.file: (out / s.file).stat().st_mtime_ns for s in again if s.file} == stamps  # nothing refetched
    assert json.loads((out / "status.json").read_text())[2]["status"] == "unavailable"


def test_youtube_ids_in_the_archive_are_skipped_without_a_request(tmp_path: Path):
    out = tmp_path / "v"
    out.mkdir()
    (out / "download-archive.txt").write_text("youtube Ab3dEf9hIjK\n")
    (out / "Ab3dEf9hIjK.info.json").write_text(json.dumps({"id": "Ab3dEf9hIjK", "title": "{THE AND} x"}))
    (out / "Ab3dEf9hIjK.mp4").write_bytes(b"")
    manifest = tmp_path / "m.csv"
    manifest.write_text("url,start,end\nAb3dEf9hIjK,,\n")
    status = download(read_manifest(manifest)[0], out, YoutubeConfig(sleep_s=0))[0]
    assert (status.status, status.video_id, status.info["title"]) == ("already downloaded", "Ab3dEf9hIjK",
                                                                      "{THE AND} x")


def test_manifest_problems_and_status_classes(tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("url,start,end\n,,\nhttps://youtu.be/Ab3dEf9hIjK,30,10\nAb3dEf9hIjK,x,\n")
    rows, problems = read_manifest(manifest)
    assert rows == [] and problems == ["m.csv, row 2: no url", "m.csv, row 3: end 10.0 is not after start 30.0",
                                       "m.csv, row 4: start/end must be seconds"]
    assert classify("[youtube] x: Private video. Sign in if you've been granted access") == "private"
    assert classify("The uploader has not made this video available in your country") == "geo-blocked"
    assert classify("This video has been removed by the uploader") == "removed"
    assert classify("[youtube] x: Video unavailable") == "unavailable"
    assert classify("Some other trouble") == "failed"


def _channel(site: Path, names: list[str]) -> None:
    """The channel page of the local host: one embedded video per name (yt-dlp lists them as a playlist)."""
    (site / "channel.html").write_text("<html><head><title>{THE AND} channel</title></head><body>" + "".join(
        f'<video src="{n}.mp4" controls></video>' for n in names) + "</body></html>")


def test_fetch_stage_fetches_only_new_videos_and_withdraws_removed_ones(host, tmp_path: Path):
    from humansense.config import FetchConfig
    from humansense.io import read_jsonl
    from humansense.schema import Quarantined
    from humansense.sources.fetch import fetch_source, withdrawn_ids

    base, hits = host
    site = tmp_path / "site"
    for name in ("first", "second", "third"):
        (site / f"{name}.mp4").write_bytes((site / "couple.mp4").read_bytes())
    folder, quarantine = tmp_path / "downloads", tmp_path / "q.jsonl"
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"url,start,end\n{base}/episode.html,,\n{base}/missing.html,,\n")
    cfg = FetchConfig(manifest=manifest, urls=[f"{base}/channel.html"], sleep_s=0)

    _channel(site, ["first", "second"])
    run1 = fetch_source("skindeep", cfg, folder, quarantine)
    assert run1["listed"] == 4 and run1["new"] == ["episode-1", "first", "second"]
    assert run1["statuses"] == {"downloaded": 3, "unavailable": 1}
    assert [(q.stage, q.reason, q.row) for q in read_jsonl(quarantine, Quarantined)] == [
        ("fetch", "video unavailable", 3)]

    hits.clear()
    _channel(site, ["first", "second", "third"])  # a video appears: only it is downloaded
    run2 = fetch_source("skindeep", cfg, folder, quarantine)
    assert run2["new"] == ["third"] and run2["statuses"]["already downloaded"] == 3
    assert {h for h in hits if h.endswith(".mp4")} == {"/third.mp4"}  # (yt-dlp probes it, then downloads)

    _channel(site, ["first", "third"])  # one disappears from the channel: reported, and it leaves the build
    run3 = fetch_source("skindeep", cfg, folder, quarantine)
    assert run3["new"] == [] and run3["withdrawn"] == ["second"]
    gone = [q for q in read_jsonl(quarantine, Quarantined) if q.record_id == "second"]
    assert gone[0].reason == "video removed" and "no longer listed" in gone[0].detail
    assert withdrawn_ids(folder) == {"second"} and (folder / "second.mp4").exists()

    from humansense.config import SkindeepConfig
    from humansense.sources.skindeep import SkindeepAdapter

    adapter = SkindeepAdapter(SkindeepConfig(root=folder), folder, 2026)
    assert sorted(v for v, _ in adapter.videos()) == ["episode-1", "first", "third"]
