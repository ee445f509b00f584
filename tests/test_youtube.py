"""The YouTube source through yt-dlp's real download path, against a web host on 127.0.0.1."""

from __future__ import annotations

import functools
import json
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from humansense.media import probe
from humansense.sources.youtube import YoutubeConfig, classify, download, read_manifest


@pytest.fixture
def host(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    for name, seconds in (("interview", 12), ("couple", 6)):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f",
                        "lavfi", "-i", "sine=frequency=330", "-t", str(seconds), "-c:v", "libx264", "-g", "25",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart",
                        str(site / f"{name}.mp4")], check=True, timeout=60)
    (site / "episode.html").write_text('<html><head><title>{THE AND} Married 6 Years with Sam &amp; Alex</title>'
                                       '</head><body><video src="couple.mp4" controls></video></body></html>')
    hits: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args):
            hits.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


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
