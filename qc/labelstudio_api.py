"""A running Label Studio, driven through its REST API (httpx): a project made from our labelling config, the build
folder connected as local-file storage so each task's clip plays from Label Studio's own media URL, the QC sample
imported as tasks, and the annotations exported back for `import_annotations`.

Label Studio must serve local files: start it with `LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true` and
`LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<build folder>` (the tasks' media URLs are `/data/local-files/?d=release/...`).
The API key comes from the environment (`LABEL_STUDIO_API_KEY`) and is sent only in the Authorization header.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from humansense.qc.labelstudio import export_tasks, labelling_config
from humansense.schema import Item

API_KEY_ENV = "LABEL_STUDIO_API_KEY"


class LabelStudioError(RuntimeError):
    pass


class LabelStudio:
    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 60.0):
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise LabelStudioError(f"no Label Studio API key: set {API_KEY_ENV}")
        # Legacy tokens are sent as "Token <key>"; personal access tokens (JWT refresh tokens) would need an exchange.
        self.http = httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Token {key}"},
                                 timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LabelStudio:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs):
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise LabelStudioError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def create_project(self, title: str) -> int:
        return self._call("POST", "/api/projects", json={"title": title, "label_config": labelling_config()})["id"]

    def connect_build(self, project: int, build: Path) -> int:
        """The build's release folder as local-file storage of the project (never synced: tasks come from us)."""
        body = {"project": project, "path": str(Path(build).resolve() / "release"), "use_blob_urls": True,
                "title": "humansense release"}
        return self._call("POST", "/api/storages/localfiles", json=body)["id"]

    def import_items(self, project: int, items: list[Item]) -> int:
        return self._call("POST", f"/api/projects/{project}/import", json=export_tasks(items))["task_count"]

    def tasks(self, project: int) -> list[dict]:
        found, page = [], 1
        while True:
            batch = self._call("GET", "/api/tasks", params={"project": project, "page": page, "page_size": 100})
            found += batch["tasks"]
            if len(found) >= batch["total"] or not batch["tasks"]:
                return found
            page += 1

    def export(self, project: int) -> list[dict]:
        """Label Studio's JSON export of the project (tasks with their annotations)."""
        return self._call("GET", f"/api/projects/{project}/export", params={"exportType": "JSON"})

    def media(self, url: str) -> httpx.Response:
        """A task's media as Label Studio serves it to the annotator's browser."""
        response = self.http.get(url)
        if response.status_code >= 400:
            raise LabelStudioError(f"GET {url}: HTTP {response.status_code}")
        return response
