"""Cutting clips with ffmpeg: spans, crops, frame sequences, and the failures that must not crash a build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from humansense.clips.stage import clip_key
from humansense.config import MediaConfig
from humansense.media import MediaError, cut_clip, fingerprint, probe
from humansense.schema import ClipSpec, Crop


def test_span_with_square_crop_starts_at_zero_with_audio(sample_roots, tmp_path: Path):
    src = sample_roots["celebvhq"] / "raw" / "aB3dE5fG7hI.mp4"  # 320x240, 25 fps, with a tone
    spec = ClipSpec(kind="span", source_path=str(src), start_s=2.0, end_s=6.0,
                    crop=Crop(left=0.3, top=0.0, right=0.7, bottom=0.8, square=True))
    info = cut_clip(spec, tmp_path / "c.mp4")
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.width == info.height == 192  # max(0.4*320, 0.8*240) = 192, square
    assert info.has_audio and info.fps == pytest.approx(25.0)
    again = probe(tmp_path / "c.mp4")  # what ffmpeg reported writing is what ffprobe reads back
    assert again.duration_s == pytest.approx(info.duration_s, abs=1024 / 44100)  # within one AAC frame of padding
    assert again.__dict__ | {"duration_s": 0} == info.__dict__ | {"duration_s": 0}


def test_frames_become_a_clip_at_the_dataset_rate(sample_roots, tmp_path: Path):
    folder = sample_roots["jester"] / "20bn-jester-v1" / "34870"
    spec = ClipSpec(kind="frames", source_path=str(folder), frame_pattern="%05d.jpg", first_frame=1, fps=12.0)
    info = cut_clip(spec, tmp_path / "g.mp4")
    assert info.frame_count == 24 and info.duration_s == pytest.approx(2.0, abs=0.01)
    assert (info.width, info.height) == (176, 100) and not info.has_audio
    part = ClipSpec(kind="frames", source_path=str(folder), frame_pattern="%05d.jpg", first_frame=5,
                    frame_count=10, fps=12.0)
    assert cut_clip(part, tmp_path / "p.mp4").frame_count == 10


def test_tall_sources_are_scaled_to_the_height_cap(sample_roots, tmp_path: Path):
    src = sample_roots["celebvhq"] / "raw" / "aB3dE5fG7hI.mp4"
    info = cut_clip(ClipSpec(kind="span", source_path=str(src), start_s=0, end_s=1), tmp_path / "s.mp4",
                    max_height=120)
    assert (info.width, info.height) == (160, 120)


@pytest.mark.parametrize("content, reason", [(b"this is not a video file\n" * 64, "unreadable media"),
                                             (None, "missing media")])
def test_unreadable_and_missing_media_raise_media_error(tmp_path: Path, content, reason):
    src = tmp_path / "bad.mp4"
    if content is not None:
        src.write_bytes(content)
    with pytest.raises(MediaError) as e:
        cut_clip(ClipSpec(kind="span", source_path=str(src), start_s=0, end_s=1), tmp_path / "out.mp4")
    assert e.value.reason == reason and "bad.mp4" in e.value.detail
    assert not list(tmp_path.glob("*.tmp.mp4")) and not (tmp_path / "out.mp4").exists()


def test_a_span_past_the_end_is_refused(sample_roots, tmp_path: Path):
    src = sample_roots["celebvhq"] / "raw" / "-Qw3Er5Ty7U.mp4"  # 6 s
    with pytest.raises(MediaError, match="span outside media"):
        cut_clip(ClipSpec(kind="span", source_path=str(src), start_s=30, end_s=31), tmp_path / "o.mp4")


def test_a_hung_ffmpeg_is_killed_by_the_timeout(sample_roots, tmp_path: Path):
    src = sample_roots["ava"] / "trainval" / "_Kp2Lm8Nq4R.mp4"
    with pytest.raises(MediaError) as e:
        cut_clip(ClipSpec(kind="span", source_path=str(src), start_s=0, end_s=900), tmp_path / "o.mp4",
                 timeout_s=0.05)
    assert e.value.reason == "ffmpeg timed out"
    assert not (tmp_path / "o.mp4").exists()


def test_clip_keys_follow_content_not_paths(sample_roots, tmp_path: Path):
    src = sample_roots["celebvhq"] / "raw" / "_x9Kq2Lm0Zp.mp4"
    copy = tmp_path / "elsewhere.mp4"
    copy.write_bytes(src.read_bytes())
    a = ClipSpec(kind="span", source_path=str(src), start_s=1, end_s=2)
    b = a.model_copy(update={"source_path": str(copy)})
    media = MediaConfig()
    assert clip_key(a, fingerprint(src), media) == clip_key(b, fingerprint(copy), media)
    assert clip_key(a, fingerprint(src), media) != clip_key(a, fingerprint(src), MediaConfig(crf=30))
    copy.write_bytes(src.read_bytes()[:-10])
    assert fingerprint(copy) != fingerprint(src)


@pytest.mark.parametrize("size_mib", [0.5, 1.5, 2.5, 40])
def test_files_differing_only_past_the_first_mib_have_different_fingerprints(tmp_path: Path, size_mib):
    """Two downloads of one size that share their first MiB (a re-encode's trailer, two copies of one upload with
    different metadata at the end) are different media; a file between 1 and 2 MiB was once keyed by its first
    MiB alone, so two such Skin Deep videos shared their clips."""
    body = os.urandom(int(size_mib * (1 << 20)))
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    a.write_bytes(body)
    b.write_bytes(body[:-7] + b"another")
    assert fingerprint(a) != fingerprint(b)
    b.write_bytes(body)
    assert fingerprint(a) == fingerprint(b)


def test_a_playlist_disguised_as_a_video_cannot_pull_other_files_in(tmp_path):
    """An HLS playlist named `.mp4` that lists another file: ffprobe and ffmpeg read local files of known container
    formats only, so it is refused as unreadable, and no clip is made from the file it points at."""
    import subprocess

    from humansense.annotators.frames import sample_frames

    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:d=2", "-f", "mpegts",
                    str(tmp_path / "private.ts")], check=True, timeout=60)
    evil = tmp_path / "video.mp4"
    evil.write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nprivate.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(MediaError) as e:
        probe(evil)
    assert "not on whitelist" in e.value.detail
    with pytest.raises(MediaError):
        sample_frames(evil, fps=1.0, start=0.0, end=1.0)
    spec = ClipSpec(kind="span", source_path=str(evil), start_s=0.0, end_s=1.0)
    with pytest.raises(MediaError):
        cut_clip(spec, tmp_path / "clip.mp4")


def test_a_span_past_the_end_is_refused_with_the_figures_not_truncated(sample_roots, tmp_path: Path):
    video = next((sample_roots["activitynet"] / "videos").glob("*.mp4"))
    length = probe(video).duration_s
    inside = ClipSpec(kind="span", source_path=str(video), start_s=0.0, end_s=length + 0.2)  # rounding: cut
    assert cut_clip(inside, tmp_path / "ok.mp4").duration_s == pytest.approx(length, abs=0.1)
    past = ClipSpec(kind="span", source_path=str(video), start_s=0.0, end_s=length + 40)
    with pytest.raises(MediaError) as e:
        cut_clip(past, tmp_path / "past.mp4")
    assert e.value.reason == "span past the end" and f"{length:.2f} s" in e.value.detail
    assert not (tmp_path / "past.mp4").exists()


def _batch(tmp_path: Path, spec: ClipSpec) -> Path:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"media": MediaConfig().model_dump(), "clips": [
        {"key": "k1", "spec": spec.model_dump(mode="json")}]}))
    return batch


def test_transient_failures_are_tried_again_permanent_ones_are_kept(sample_roots, tmp_path: Path, monkeypatch):
    import humansense.clips.stage as clips
    from humansense.clips.stage import cut_batch, done_batch_counts

    folder = next(p for p in (sample_roots["jester"] / "20bn-jester-v1").iterdir() if p.is_dir())
    spec = ClipSpec(kind="frames", source_path=str(folder), frame_pattern="%05d.jpg", first_frame=1, fps=12.0)
    batch, out = _batch(tmp_path, spec), tmp_path / "clips"
    real = clips.cut_clip

    def timed_out(*a, **k):
        raise MediaError("ffmpeg timed out", "no result after 300 s")

    monkeypatch.setattr(clips, "cut_clip", timed_out)
    assert cut_batch(batch, out) == {"cut": 0, "reused": 0, "failed": 1, "transient": 1}
    assert done_batch_counts(batch, out) is None  # nothing recorded: the next build tries again
    monkeypatch.setattr(clips, "cut_clip", real)
    assert cut_batch(batch, out)["cut"] == 1
    assert done_batch_counts(batch, out) == {"cut": 0, "reused": 1, "failed": 0}  # a rebuild counts it, cuts nothing
    next(out.glob("*.mp4")).unlink()  # a clip lost while its record stays is cut again, not trusted
    assert done_batch_counts(batch, out) is None and cut_batch(batch, out)["cut"] == 1

    one_frame = ClipSpec(kind="frames", source_path=str(folder), frame_pattern="%05d.jpg", first_frame=1,
                         frame_count=1, fps=30.0)  # 0.033 s: nothing to count people across
    (tmp_path / "b2").mkdir()
    batch2, out2 = _batch(tmp_path / "b2", one_frame), tmp_path / "c2"
    assert cut_batch(batch2, out2) == {"cut": 0, "reused": 0, "failed": 1}
    record = json.loads((out2 / "k1.json").read_text())
    assert record["error"]["reason"] == "clip too short"
    assert done_batch_counts(batch2, out2)["failed"] == 1  # permanent: recorded
    assert cut_batch(batch2, out2) == {"cut": 0, "reused": 0, "failed": 1}  # and not tried again
