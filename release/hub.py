"""Publish a release folder to a Hugging Face Hub dataset repository in one commit, with huggingface_hub.

The token comes from the environment (HF_TOKEN, or huggingface_hub's own login) and never appears in output.
A dry run compares the release's manifest with the repository's current files (LFS sha256, or the git blob id
for small files) and lists what would be added, changed and deleted. A push needs the QC gate to pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from humansense.qc.gate import release_gate
from humansense.release.diff import diff_markdown, load_diff
from humansense.release.writer import read_manifest

KEEP_REMOTE = {".gitattributes"}  # the Hub's own files; never deleted


class PushRefused(Exception):
    pass


@dataclass
class PushPlan:
    repo_id: str
    add: list[str] = field(default_factory=list)
    change: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: int = 0
    commit_url: str | None = None
    pull_request_url: str | None = None

    def summary(self) -> dict:
        return {"repo_id": self.repo_id, "add": self.add, "change": self.change, "delete": self.delete,
                "unchanged": self.unchanged, "commit_url": self.commit_url, "pull_request_url": self.pull_request_url}


def git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _api(endpoint: str | None, token: str | None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token)


def plan_push(release: Path, repo_id: str, *, revision: str = "main", endpoint: str | None = None,
              token: str | None = None) -> PushPlan:
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
    plan = PushPlan(repo_id=repo_id)
    for path in sorted(local):
        if path not in remote:
            plan.add.append(path)
            continue
        r = remote[path]
        same = (r.lfs.sha256 == manifest[path]["sha256"]) if r.lfs and path in manifest else (
            r.blob_id == git_blob_id(release / path))
        if same:
            plan.unchanged += 1
        else:
            plan.change.append(path)
    plan.delete = sorted(p for p in remote if p not in local and p not in KEEP_REMOTE)
    return plan


def _items_line(diff: dict | None) -> str:
    if not diff or not diff.get("counts"):
        return ""
    c = diff["counts"]
    return f"items +{c['added']} -{c['removed']} ~{c['changed']}, "


def push_release(release: Path, repo_id: str, *, private: bool = True, create_pr: bool = False,
                 dry_run: bool = False, allow_unreviewed: bool = False, allow_sample: bool = False,
                 revision: str = "main", endpoint: str | None = None, token: str | None = None) -> PushPlan:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    release = Path(release)
    sample = json.loads((release / "build_report.json").read_text()).get("sample_sources") or []
    if sample and not allow_sample and not dry_run:
        raise PushRefused(f"built from the embedded synthetic sample ({', '.join(sample)}), not real data; "
                          "push it anyway with --allow-sample")
    gate = release_gate(release)
    if not gate.passed and not allow_unreviewed and not dry_run:
        raise PushRefused("QC gate not passed:\n  " + "\n  ".join(gate.problems))
    plan = plan_push(release, repo_id, revision=revision, endpoint=endpoint, token=token)
    if dry_run:
        return plan
    api = _api(endpoint, token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(release / p)) for p in plan.add + plan.change]
    operations += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
    if not operations:
        return plan
    note = "" if gate.passed else " (QC review not complete: pushed with --allow-unreviewed)"
    diff = load_diff(release)
    info = api.create_commit(repo_id, operations, repo_type="dataset", revision=revision, create_pr=create_pr,
                             commit_message=f"humansense-build release: {_items_line(diff)}files +{len(plan.add)} "
                                            f"~{len(plan.change)} -{len(plan.delete)}{note}",
                             commit_description=diff_markdown(diff) if diff else None)
    plan.commit_url, plan.pull_request_url = info.commit_url, info.pr_url
    return plan
