"""A small OpenAI-compatible server on 127.0.0.1 that misbehaves on demand: 429, 500, slow, truncated bodies,
malformed JSON, well-formed but invalid answers, schema-refusing; plus the Files and Batches endpoints. Each chat
request takes the next scripted behaviour, else what `behave(request)` says."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class FakeLLM:
    def __init__(self, answer: dict | None = None, behave=None, answer_for=None):
        self.answer = answer  # the JSON a well-behaved request gets (or `answer_for(request)`)
        self.answer_for = answer_for
        self.behave = behave  # request -> behaviour, when no script is queued
        self.served: list[str] = []
        self.script: deque[str] = deque()
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code, body, raw=False):
                data = body if raw else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = urlparse(self.path).path
                if path.startswith("/v1/batches/"):
                    return self._send(200, fake.batches[path.rsplit("/", 1)[1]])
                if path.startswith("/v1/files/") and path.endswith("/content"):
                    return self._send(200, fake.files[path.split("/")[3]], raw=True)
                self._send(404, {"error": {"message": "not faked"}})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlparse(self.path).path
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if path == "/v1/files":
                    content = body.split(b"\r\n\r\n", 2)[-1].rsplit(b"\r\n--", 1)[0]  # the multipart file part
                    fid = f"file-{len(fake.files)}"
                    fake.files[fid] = content
                    return self._send(200, {"id": fid, "object": "file", "bytes": len(content), "created_at": 0,
                                            "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})
                if path == "/v1/batches":
                    req = json.loads(body)
                    bid = f"batch-{len(fake.batches)}"
                    lines = [json.loads(x) for x in fake.files[req["input_file_id"]].decode().splitlines() if x]
                    out = "".join(json.dumps({"id": f"r{k}", "custom_id": x["custom_id"], "response": {
                        "status_code": 200, "body": fake.completion(json.dumps(fake.answer))}, "error": None}) + "\n"
                        for k, x in enumerate(lines))
                    fake.files[f"out-{bid}"] = out.encode()
                    fake.batches[bid] = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "status": "completed",
                                         "input_file_id": req["input_file_id"], "output_file_id": f"out-{bid}",
                                         "completion_window": "24h", "created_at": 0}
                    return self._send(200, fake.batches[bid])
                if path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not faked"}})
                req = json.loads(body)
                fake.requests.append(req)
                behaviour = fake.script.popleft() if fake.script else fake.behave(req) if fake.behave else "ok"
                fake.served.append(behaviour)
                if behaviour == "truncated":  # the body stops half-way and the connection drops
                    data = json.dumps(fake.completion(json.dumps(fake.answer_to(req)))).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                if behaviour == "429":
                    return self._send(429, {"error": {"message": "Rate limit reached", "type": "rate_limit"}})
                if behaviour == "500":
                    return self._send(500, {"error": {"message": "upstream exploded"}})
                if behaviour.startswith("slow"):
                    time.sleep(float(behaviour.split(":")[1]))
                if behaviour == "no-schema" and req.get("response_format", {}).get("type") == "json_schema":
                    fake.script.appendleft("no-schema")
                    return self._send(400, {"error": {"message": "response_format json_schema is not supported"}})
                content = "Sure! {not json" if behaviour == "malformed" else json.dumps(fake.answer_to(req))
                if behaviour == "invalid":
                    content = json.dumps({"unexpected": True})
                self._send(200, fake.completion(content))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer_to(self, request: dict) -> dict:
        return self.answer_for(request) if self.answer_for else self.answer

    @staticmethod
    def completion(content: str) -> dict:
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "fake",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40}}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
