"""A Hugging Face Hub on 127.0.0.1 for tests: the requests huggingface_hub makes to fetch
files, answered as the hub answers them.

- ``GET /api/models/{owner}/{name}[/revision/{rev}]``: the repository's commit (``sha``)
  and file list (``siblings``); an unknown repository gets 404 with
  ``X-Error-Code: RepoNotFound``.
- ``HEAD`` / ``GET /{owner}/{name}/resolve/{rev}/{path}``: the file, with
  ``X-Repo-Commit``, ``ETag`` (the git blob hash; for LFS files ``X-Linked-Etag``, their
  SHA-256, and ``X-Linked-Size``) and ``Content-Length``; ``Range`` is honoured, as
  huggingface_hub resumes an interrupted download with it.

Faults: ``truncate_once`` (the first GET of a file sends half its bytes, then closes the
connection), ``corrupt`` (a file is served with one byte flipped under the original's
hashes). Every request is recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# Files the hub keeps in LFS (as .gitattributes of a model repository says).
_LFS = (".safetensors", ".onnx", ".onnx.data", ".onnx_data", ".bin")


@dataclass
class Repo:
    commit: str
    files: dict[str, bytes]


@dataclass
class Hub:
    repos: dict[str, Repo] = field(default_factory=dict)
    truncate_once: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo_id: str, folder: Path, commit: str) -> None:
        """Serve every file under ``folder`` as ``repo_id`` at ``commit``."""
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        self.repos[repo_id] = Repo(commit, files)

    def fetched(self, repo_id: str) -> set[str]:
        """The files of ``repo_id`` whose bytes were requested (GET)."""
        prefix = f"/{repo_id}/resolve/"
        return {
            unquote(path[len(prefix) :].split("/", 1)[1])
            for method, path in self.requests
            if method == "GET" and path.startswith(prefix)
        }


def is_lfs(name: str) -> bool:
    return name.endswith(_LFS)


def git_blob_hash(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


_API = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _not_found(self, code: str, commit: str | None = None) -> None:
            headers = {"X-Error-Code": code, "Content-Type": "application/json"}
            if commit:
                headers["X-Repo-Commit"] = commit
            self._send(404, json.dumps({"error": code}).encode(), headers)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            with hub.lock:
                hub.requests.append((self.command, path))
            api = _API.match(path)
            if api:
                repo = hub.repos.get(api.group(1))
                if repo is None:
                    return self._not_found("RepoNotFound")
                body = {
                    "id": api.group(1),
                    "sha": repo.commit,
                    "siblings": [{"rfilename": name} for name in repo.files],
                }
                return self._send(
                    200, json.dumps(body).encode(), {"Content-Type": "application/json"}
                )
            resolve = _RESOLVE.match(path)
            if not resolve:
                return self._not_found("RepoNotFound")
            repo = hub.repos.get(resolve.group(1))
            if repo is None:
                return self._not_found("RepoNotFound")
            revision, name = unquote(resolve.group(2)), unquote(resolve.group(3))
            if revision not in ("main", repo.commit):
                return self._not_found("RevisionNotFound")
            data = repo.files.get(name)
            if data is None:
                return self._not_found("EntryNotFound", repo.commit)
            headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{git_blob_hash(data)}"'}
            if is_lfs(name):
                headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
                headers["X-Linked-Size"] = str(len(data))
            if self.command == "GET" and name in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = 0
            ranged = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
            if ranged and self.command == "GET":
                start = int(ranged.group(1))
            body = data[start:]
            key = f"{resolve.group(1)}/{name}"
            if self.command == "GET" and key in hub.truncate_once:
                hub.truncate_once.discard(key)
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return None
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                return self._send(206, body, headers)
            return self._send(200, body, headers)

    return Handler


@contextmanager
def serve(hub: Hub) -> Iterator[str]:
    """Run ``hub`` on a free port; yields its base URL (for ``HF_ENDPOINT``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
