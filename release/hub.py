"""Publish a release folder to a Hugging Face Hub dataset repository, with huggingface_hub.

The token comes from the environment (HF_TOKEN, or huggingface_hub's own login) and never appears in output.
A dry run compares the release's manifest with the repository's current files (LFS sha256, or the git blob id
for small files) and lists what would be added, changed and deleted, with sizes and the commits ("pieces") a push
makes. Only what differs is uploaded: shards are stable (release/shards.py), so a rebuild that changed one item
re-uploads one shard. A release of tens of GB goes up in pieces of bounded size, one commit each: a push cut off
half-way leaves whole commits behind, and running it again uploads only what is still missing. The card, the
manifest and the deletions come in the last piece, so the configs never name a file that is not there yet. The
pushed lmms-eval task names the repository as its `dataset_path`. A push ends by tagging its commit with the
build's identity (`build-<date>-<key>`, the key a digest of the manifest), so users can pin `revision=` to a
rebuild. A push needs the QC gate to pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from humansense.qc.gate import release_gate
from humansense.release.diff import diff_markdown, load_diff
from humansense.release.lmms_eval import TASK_DIR, hub_task_yaml
from humansense.release.manifest import MANIFEST, read_manifest

KEEP_REMOTE = {".gitattributes"}  # the Hub's own files; never deleted
# Uploaded last, with the deletions: what points at the data (configs, manifest, the task) after the data.
LAST = ("README.md", "manifest.json", "build_report.json", "LICENSE.md", "lmms_eval/")
PIECE_BYTES = 2 * 10**9  # a commit's upload at most (one file larger than this goes alone)
PIECE_FILES = 500  # files in a commit at most


class PushRefused(Exception):
    pass


@dataclass
class PushPlan:
    repo_id: str
    add: list[str] = field(default_factory=list)
    change: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: int = 0
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each file to upload
    pieces: list[list[str]] = field(default_factory=list)  # the commits: files to upload in each
    tag: str | None = None
    commit_urls: list[str] = field(default_factory=list)
    pull_request_url: str | None = None

    @property
    def commit_url(self) -> str | None:
        return self.commit_urls[-1] if self.commit_urls else None

    def summary(self) -> dict:
        return {"repo_id": self.repo_id, "add": self.add, "change": self.change, "delete": self.delete,
                "unchanged": self.unchanged, "upload_bytes": sum(self.sizes.values()), "sizes": self.sizes,
                "pieces": [{"files": len(p), "bytes": sum(self.sizes[f] for f in p)} for p in self.pieces],
                "tag": self.tag, "commit_url": self.commit_url, "commit_urls": self.commit_urls,
                "pull_request_url": self.pull_request_url}


def build_tag(release: Path) -> str:
    """`build-<YYYYMMDD>-<first 12 of the manifest's sha256>`: the build's date and a key of its content."""
    report = json.loads((release / "build_report.json").read_text())
    day = str(report.get("built_at") or "")[:10].replace("-", "") or "undated"
    return f"build-{day}-{hashlib.sha256((release / MANIFEST).read_bytes()).hexdigest()[:12]}"


def pushed_bytes(release: Path, path: str, repo_id: str) -> bytes | None:
    """The bytes pushed for `path` when they are not the file's own (the task YAML names the repository)."""
    if path == f"{TASK_DIR}/humansense.yaml":
        return hub_task_yaml((release / path).read_text(encoding="utf-8"), repo_id).encode()
    return None


def split_pieces(paths: list[str], sizes: dict[str, int], max_bytes: int = PIECE_BYTES,
                 max_files: int = PIECE_FILES) -> list[list[str]]:
    """Consecutive runs of `paths` of at most `max_bytes` and `max_files` each, the LAST files in a piece of their
    own at the end."""
    last = [p for p in paths if p.startswith(LAST)]
    pieces, piece, size = [], [], 0
    for path in (p for p in paths if not p.startswith(LAST)):
        if piece and (size + sizes[path] > max_bytes or len(piece) == max_files):
            pieces.append(piece)
            piece, size = [], 0
        piece.append(path)
        size += sizes[path]
    return [*pieces, *([piece] if piece else []), last]


def git_blob_id(path: Path, data: bytes | None = None) -> str:
    data = path.read_bytes() if data is None else data
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _api(endpoint: str | None, token: str | None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token)


def plan_push(release: Path, repo_id: str, *, revision: str = "main", endpoint: str | None = None,
              token: str | None = None, max_piece_bytes: int = PIECE_BYTES) -> PushPlan:
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    release = Path(release)
    manifest = read_manifest(release)
    local = set(manifest) | {"manifest.json"}
    api = _api(endpoint, token)
    try:
        remote = {f.path: f for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision,
                                                        recursive=True) if getattr(f, "blob_id", None)}
    except (RepositoryNotFoundError, RevisionNotFoundError):
        remote = {}
    plan = PushPlan(repo_id=repo_id, tag=build_tag(release))
    for path in sorted(local):
        own = pushed_bytes(release, path, repo_id)
        if path not in remote:
            plan.add.append(path)
        else:
            r = remote[path]
            same = (r.lfs.sha256 == manifest[path]["sha256"]) if r.lfs and path in manifest and own is None else (
                r.blob_id == git_blob_id(release / path, own))
            if same:
                plan.unchanged += 1
                continue
            plan.change.append(path)
        plan.sizes[path] = len(own) if own is not None else (release / path).stat().st_size
    plan.delete = sorted(p for p in remote if p not in local and p not in KEEP_REMOTE)
    plan.pieces = split_pieces(sorted(plan.add + plan.change), plan.sizes, max_piece_bytes)
    return plan


def _items_line(diff: dict | None) -> str:
    if not diff or not diff.get("counts"):
        return ""
    c = diff["counts"]
    return f"items +{c['added']} -{c['removed']} ~{c['changed']}, "


def push_release(release: Path, repo_id: str, *, private: bool = True, create_pr: bool = False,
                 dry_run: bool = False, allow_unreviewed: bool = False, allow_sample: bool = False,
                 revision: str = "main", endpoint: str | None = None, token: str | None = None,
                 max_piece_bytes: int | None = None) -> PushPlan:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    release = Path(release)
    sample = json.loads((release / "build_report.json").read_text()).get("sample_sources") or []
    if sample and not allow_sample and not dry_run:
        raise PushRefused(f"built from the embedded synthetic sample ({', '.join(sample)}), not real data; "
                          "push it anyway with --allow-sample")
    gate = release_gate(release)
    if not gate.passed and not allow_unreviewed and not dry_run:
        raise PushRefused("QC gate not passed:\n  " + "\n  ".join(gate.problems))
    plan = plan_push(release, repo_id, revision=revision, endpoint=endpoint, token=token,
                     max_piece_bytes=max_piece_bytes or PIECE_BYTES)
    if dry_run:
        return plan
    api = _api(endpoint, token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    note = "" if gate.passed else " (QC review not complete: pushed with --allow-unreviewed)"
    diff = load_diff(release)
    message = (f"humansense-build release {plan.tag}: {_items_line(diff)}files +{len(plan.add)} ~{len(plan.change)} "
               f"-{len(plan.delete)}{note}")
    target, info = revision, None
    for k, piece in enumerate(plan.pieces, start=1):
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=pushed_bytes(release, p, repo_id)
                                         or str(release / p)) for p in piece]
        if k == len(plan.pieces):
            operations += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
        if not operations:
            continue
        info = api.create_commit(repo_id, operations, repo_type="dataset", revision=target,
                                 create_pr=create_pr and info is None,
                                 commit_message=message + (f" (piece {k} of {len(plan.pieces)})"
                                                           if len(plan.pieces) > 1 else ""),
                                 commit_description=diff_markdown(diff) if diff else None)
        plan.commit_urls.append(info.commit_url)
        if create_pr and info.pr_url:  # the pieces after the first go to the pull request's branch
            plan.pull_request_url, target = info.pr_url, info.pr_revision
    if not create_pr:
        api.create_tag(repo_id, tag=plan.tag, repo_type="dataset", revision=info.oid if info else revision,
                       tag_message=message, exist_ok=True)
    return plan
