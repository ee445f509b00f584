"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, enough for huggingface_hub's real client code:
create a repo, list its tree, preupload (every file regular) and commit (NDJSON). Files are kept in memory;
files that would be LFS on the Hub (Parquet, media, over 10 KB) are listed with LFS sha256 like the Hub does."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import yaml


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: list[dict] = []
        self.auth_headers: list[str | None] = []
        self.validated: list[dict] = []
        self.tags: dict[str, dict[str, str]] = {}  # repo -> tag -> the revision it names
        self.fail_commits = 0  # this many commits fail (as an upload cut off half-way does)
        self.fail_at_commit: int | None = None  # the commit that fails once, counting the ones that landed (1-based)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self):
                hub.auth_headers.append(self.headers.get("Authorization"))
                parts = urlparse(self.path).path.strip("/").split("/")
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "tree":
                    repo = f"{parts[2]}/{parts[3]}"
                    if repo not in hub.repos:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    return self._send(200, [hub.entry(p, c) for p, c in sorted(hub.repos[repo].items())])
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "revision":
                    repo = f"{parts[2]}/{parts[3]}"
                    if repo not in hub.repos:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    return self._send(200, {"id": repo, "sha": hub.head(repo), "private": True,
                                            "siblings": [{"rfilename": p} for p in sorted(hub.repos[repo])]})
                if self._resolve(parts, body=True):
                    return None
                self._send(404, {"error": f"not faked: GET {self.path}"})

            def do_HEAD(self):
                if not self._resolve(urlparse(self.path).path.strip("/").split("/"), body=False):
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()

            def _resolve(self, parts, body: bool) -> bool:
                """A file's bytes (`/datasets/<repo>/resolve/<revision>/<path>`), with the headers the client reads."""
                if parts[:1] != ["datasets"] or len(parts) < 6 or parts[3] != "resolve":
                    return False
                repo, path = f"{parts[1]}/{parts[2]}", "/".join(parts[5:])
                content = hub.repos.get(repo, {}).get(path)
                if content is None:
                    return False
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("X-Repo-Commit", hub.head(repo))
                self.send_header("ETag", f'"{hub.entry(path, content)["oid"]}"')
                self.end_headers()
                if body:
                    self.wfile.write(content)
                return True

            def do_POST(self):
                hub.auth_headers.append(self.headers.get("Authorization"))
                parts = urlparse(self.path).path.strip("/").split("/")
                body = self._body()
                if parts == ["api", "validate-yaml"]:  # the Hub checks the card's YAML header before a commit
                    content = json.loads(body)["content"]
                    try:
                        header = yaml.safe_load(content.split("---")[1]) if content.startswith("---") else None
                        assert isinstance(header, dict) and header.get("configs"), "no configs in the header"
                    except Exception as e:
                        return self._send(400, {"errors": [{"message": str(e)}]})
                    hub.validated.append(header)
                    return self._send(200, {"errors": [], "warnings": []})
                if parts == ["api", "repos", "create"]:
                    req = json.loads(body)
                    repo = f"{req.get('organization') or 'user'}/{req['name']}"
                    hub.repos.setdefault(repo, {".gitattributes": b"*.parquet filter=lfs\n"})
                    return self._send(200, {"url": f"{hub.url}/datasets/{repo}", "name": repo})
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "tag":
                    repo, tag = f"{parts[2]}/{parts[3]}", json.loads(body)["tag"]
                    if tag in hub.tags.setdefault(repo, {}):
                        return self._send(409, {"error": f"tag {tag} exists"})
                    hub.tags[repo][tag] = parts[5]
                    return self._send(200, {})
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                       "shouldIgnore": False} for f in files]})
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "commit":
                    repo = f"{parts[2]}/{parts[3]}"
                    failing = hub.fail_at_commit == len(hub.commits) + 1
                    if hub.fail_commits > 0 or failing:  # the upload broke off: the Hub drops the whole commit
                        hub.fail_commits -= not failing
                        hub.fail_at_commit = None if failing else hub.fail_at_commit
                        return self._send(500, {"error": "Internal Error - upload interrupted"})
                    lines = [json.loads(x) for x in body.splitlines() if x.strip()]
                    files = hub.repos.setdefault(repo, {})
                    record = {"repo": repo, "query": urlparse(self.path).query, "header": lines[0]["value"],
                              "revision": unquote("/".join(parts[5:])), "added": [], "deleted": []}
                    for line in lines[1:]:
                        if line["key"] == "file":
                            files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                            record["added"].append(line["value"]["path"])
                        elif line["key"] == "deletedFile":
                            files.pop(line["value"]["path"], None)
                            record["deleted"].append(line["value"]["path"])
                    hub.commits.append(record)
                    oid = hashlib.sha1(json.dumps(record).encode()).hexdigest()
                    pr = "create_pr=1" in record["query"]
                    return self._send(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{oid}", "commitOid": oid,
                                            **({"pullRequestUrl": f"{hub.url}/datasets/{repo}/discussions/1"}
                                               if pr else {})})
                self._send(404, {"error": f"not faked: POST {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def head(self, repo: str) -> str:
        """A commit id for the repository's current files."""
        files = self.repos.get(repo, {})
        return hashlib.sha1(b"".join(p.encode() + hashlib.sha1(c).digest() for p, c in sorted(files.items()))).hexdigest()

    @staticmethod
    def entry(path: str, content: bytes) -> dict:
        blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        e = {"type": "file", "oid": blob, "size": len(content), "path": path}
        if path.endswith((".parquet", ".mp4", ".png")) or len(content) > 10_000:
            e["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
        return e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
