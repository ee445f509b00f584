"""The review app: `humansense qc serve` shows annotators one sampled item at a time on 127.0.0.1.

Items come from `<build>/qc/sample.jsonl` (written by each build), verdicts go to `<build>/qc/reviews.sqlite`.
Media are looked up by item id and must resolve inside the build folder; nothing from the request is joined
into a path. Safe to leave running: every request needs the access token printed at start (in the URL's `token`
query once, then a same-site cookie), and a request whose Host header is not one the app serves is refused, so a
web page elsewhere cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from pydantic import ValidationError

from humansense.io import read_jsonl
from humansense.qc.store import REJECT_REASONS, REVIEWS_FILE, SAMPLE_FILE, ReviewStore, VerdictIn, content_hash
from humansense.schema import Item
from humansense.tasks import TASKS, Kind


class SampleIndex:
    """The sampled items, reloaded when a rebuild rewrites the sample file."""

    def __init__(self, build: Path):
        self.path = build / "qc" / SAMPLE_FILE
        self.mtime = None
        self.items: dict[str, Item] = {}

    def get(self) -> dict[str, Item]:
        if not self.path.exists():
            raise HTTPException(503, f"no QC sample at {self.path}: run `humansense build` first")
        mtime = self.path.stat().st_mtime_ns
        if mtime != self.mtime:
            items = sorted(read_jsonl(self.path, Item), key=lambda i: (list(TASKS).index(i.task), i.id))
            self.items, self.mtime = {i.id: i for i in items}, mtime
        return self.items


def valid_correction(item: Item, answer: str) -> bool:
    if item.kind is Kind.NUMERAL:
        return bool(re.fullmatch(r"[0-9]", answer))
    letters = [o.letter for o in item.options]
    if item.kind is Kind.MULTI:
        return bool(answer) and list(answer) == sorted(set(answer)) and set(answer) <= set(letters)
    return answer in letters


TOKEN_COOKIE = "humansense_qc_token"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MEDIA_TYPES = {".mp4": "video/mp4", ".wav": "audio/wav", ".m4a": "audio/mp4"}


def host_name(header: str) -> str:
    """The host of a Host header, without the port ("[::1]:8765" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def create_app(build: Path, token: str | None = None, hosts: Iterable[str] = ()) -> FastAPI:
    """The app over `build`. `token`: required on every request (None only for in-process tests); `hosts`: names it is
    served under besides the loopback ones (a team server's name or address)."""
    build = Path(build).resolve()
    store = ReviewStore(build / "qc" / REVIEWS_FILE)
    sample = SampleIndex(build)
    allowed = LOOPBACK | {h.lower() for h in hosts}
    app = FastAPI(title="HumanSense QC review", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if host_name(request.headers.get("host", "")) not in allowed:
            return PlainTextResponse("refused: this server does not serve that Host", status_code=403)
        if token is None:
            return await call_next(request)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE) or bearer
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return PlainTextResponse("refused: open the URL with the token printed by `humansense qc serve`",
                                     status_code=403)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    def item_json(item: Item) -> dict:
        verdicts = store.current([item]).get(item.id, [])
        return {**item.model_dump(mode="json"), "content_hash": content_hash(item), "media_url": f"/media/{item.id}",
                "verdicts": [v.model_dump(mode="json") for v in verdicts]}

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return resources.files("humansense.qc").joinpath("static/review.html").read_text(encoding="utf-8")

    @app.get("/api/config")
    def config() -> dict:
        return {"reject_reasons": list(REJECT_REASONS)}

    @app.get("/api/next")
    def next_item(annotator: str, after: str | None = None) -> dict:
        items = list(sample.get().values())
        reviewed = {i for i, rows in store.current(items).items() if any(r.annotator == annotator for r in rows)}
        ids = [i.id for i in items]
        start = ids.index(after) + 1 if after in ids else 0
        for item in items[start:] + items[:start]:
            if item.id not in reviewed:
                return {"done": False, "item": item_json(item)}
        return {"done": True}

    @app.get("/api/items/{item_id}")
    def get_item(item_id: str) -> dict:
        item = sample.get().get(item_id)
        if item is None:
            raise HTTPException(404, "no such item")
        return item_json(item)

    @app.get("/api/progress")
    def progress() -> dict:
        items = list(sample.get().values())
        decided = store.status(items)
        out: dict[str, dict] = {}
        for i in items:
            row = out.setdefault(i.task, {"sampled": 0, "reviewed": 0, "accepted": 0, "rejected": 0, "corrected": 0})
            row["sampled"] += 1
            if i.id in decided:
                row["reviewed"] += 1
                row[{"accept": "accepted", "reject": "rejected", "correct": "corrected"}[decided[i.id].verdict]] += 1
        return {"tasks": out}

    @app.post("/api/verdicts", status_code=201)
    def add_verdict(body: dict) -> dict:
        try:
            verdict = VerdictIn.model_validate({**body, "source": "app"})
        except ValidationError as e:
            raise HTTPException(422, e.errors()[0]["msg"]) from None
        item = sample.get().get(verdict.item_id)
        if item is None:
            raise HTTPException(404, "no such item")
        if verdict.content_hash != content_hash(item):
            raise HTTPException(409, "the item changed since it was loaded; reload it")
        if verdict.verdict == "correct" and not valid_correction(item, verdict.corrected_answer):
            raise HTTPException(422, f"{verdict.corrected_answer!r} is not a valid answer for this item")
        return {"seq": store.add(verdict)}

    @app.get("/media/{item_id}")
    def media(item_id: str) -> FileResponse:
        item = sample.get().get(item_id)
        if item is None:
            raise HTTPException(404, "no such item")
        name = Path(item.media.path).name
        for candidate in (build / "release" / item.media.path, build / "cache" / "clips" / name):
            path = candidate.resolve()
            if path.is_relative_to(build) and path.is_file():
                return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))
        raise HTTPException(404, "media not found")

    return app
