"""A loopback HTTP server speaking the part of the Hugging Face Hub API that the real clients use.

No self-hostable Hub accepts uploads offline, and mocking our own push functions would test nothing.
So tests start this server on 127.0.0.1, point ``HF_ENDPOINT`` at it and run the genuine
``huggingface_hub`` / ``datasets`` / ``diffusers`` code end to end: ``create_repo``, ``upload_folder``
/ ``create_commit`` (preupload + NDJSON commit, regular and LFS files through the basic LFS batch
API — set ``HF_HUB_DISABLE_XET=1``), ``repo_info``, ``list_repo_tree``, ``paths-info`` and
``hf_hub_download`` / ``snapshot_download`` (HEAD/GET on ``resolve``). Repositories live in memory.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

REPO_TYPES = ("model", "dataset", "space")
#: Files the preupload answer sends through LFS, as the Hub does for binary formats.
LFS_SUFFIXES = (
    ".parquet",
    ".safetensors",
    ".bin",
    ".arrow",
    ".wav",
    ".flac",
    ".mp3",
    ".ogg",
    ".png",
    ".pt",
    ".pth",
    ".npy",
    ".npz",
)
LFS_MIN_SIZE = 10 * 1024 * 1024


def git_blob_oid(content: bytes) -> str:
    """The git object id of a file: sha1 of ``blob <size>\\0`` + content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class StoredFile:
    content: bytes
    lfs_sha256: str | None = None

    @property
    def oid(self) -> str:
        return git_blob_oid(self.content)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool = False
    commits: list[tuple[str, dict[str, StoredFile]]] = field(default_factory=list)
    #: branch name → its head commit (main is the last of ``commits``)
    branches: dict[str, tuple[str, dict[str, StoredFile]]] = field(default_factory=dict)

    @property
    def head(self) -> tuple[str, dict[str, StoredFile]]:
        return self.commits[-1]

    def snapshot(self, revision: str) -> tuple[str, dict[str, StoredFile]] | None:
        if revision in ("main", "HEAD"):
            return self.head
        if revision in self.branches:
            return self.branches[revision]
        for sha, files in [*self.commits, *self.branches.values()]:
            if sha == revision:
                return sha, files
        return None


def _new_sha() -> str:
    return hashlib.sha1(uuid.uuid4().bytes).hexdigest()


class HubState:
    """In-memory repositories and LFS objects, shared by the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}

    def create(self, repo_type: str, repo_id: str, private: bool) -> tuple[Repo, bool]:
        with self.lock:
            key = (repo_type, repo_id)
            if key in self.repos:
                return self.repos[key], False
            repo = Repo(repo_type, repo_id, private)
            repo.commits.append(
                (
                    _new_sha(),
                    {".gitattributes": StoredFile(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n")},
                )
            )
            self.repos[key] = repo
            return repo, True


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackHubServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return

    # ------------------------------------------------------------------ helpers
    @property
    def state(self) -> HubState:
        return self.server.state

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        payload: object = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        head: bool = False,
    ) -> None:
        body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, status: int, message: str, code: str | None = None, head: bool = False) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, {"error": message}, headers=headers, head=head)

    def _repo(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.state.repos.get((repo_type, repo_id))

    def _snapshot(
        self, repo_type: str, repo_id: str, revision: str, head: bool = False
    ) -> tuple[Repo, str, dict] | None:
        """The repo and its files at ``revision``; answers 404 (RepoNotFound / RevisionNotFound) and
        returns None when either is missing."""
        repo = self._repo(repo_type, repo_id)
        snapshot = repo.snapshot(revision) if repo else None
        if snapshot is None:
            code = "RepoNotFound" if repo is None else "RevisionNotFound"
            self._error(404, f"{repo_type} {repo_id}@{revision} not found", code, head)
            return None
        return repo, snapshot[0], snapshot[1]

    # ------------------------------------------------------------------ routing
    def do_POST(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        body = self._body()
        if parts[:3] == ["api", "repos", "create"]:
            return self._create_repo(json.loads(body or b"{}"))
        if parts[:2] == ["api", "validate-yaml"]:
            return self._send(200, {"errors": [], "warnings": []})
        if len(parts) >= 6 and parts[0] == "api" and parts[1].rstrip("s") in REPO_TYPES:
            repo_type, repo_id, action, revision = (
                parts[1][:-1],
                f"{parts[2]}/{parts[3]}",
                parts[4],
                "/".join(parts[5:]),
            )
            if action == "preupload":
                return self._preupload(repo_type, repo_id, json.loads(body))
            if action == "commit":
                return self._commit(repo_type, repo_id, revision, body)
            if action == "branch":
                return self._create_branch(repo_type, repo_id, revision, json.loads(body or b"{}"))
            if action == "paths-info":
                return self._paths_info(repo_type, repo_id, revision, body)
        if url.path.endswith(".git/info/lfs/objects/batch"):
            return self._lfs_batch(json.loads(body))
        self._error(404, f"no route for POST {url.path}")

    def do_PUT(self) -> None:
        parts = urlsplit(self.path).path.strip("/").split("/")
        body = self._body()
        if parts[0] == "lfs-upload" and len(parts) == 2:
            oid = parts[1]
            if hashlib.sha256(body).hexdigest() != oid:
                return self._error(400, f"LFS upload content does not hash to {oid}")
            with self.state.lock:
                self.state.lfs_objects[oid] = body
            return self._send(200, {})
        self._error(404, f"no route for PUT {self.path}")

    def do_GET(self) -> None:
        self._get(head=False)

    def do_HEAD(self) -> None:
        self._get(head=True)

    def _get(self, head: bool) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        if parts and parts[0] == "api" and len(parts) >= 4 and parts[1].rstrip("s") in REPO_TYPES:
            repo_type, repo_id = parts[1][:-1], f"{parts[2]}/{parts[3]}"
            rest = parts[4:]
            if not rest:
                return self._repo_info(repo_type, repo_id, "main", head)
            if rest[0] == "revision":
                return self._repo_info(repo_type, repo_id, "/".join(rest[1:]), head)
            if rest[0] == "tree":
                recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                return self._tree(repo_type, repo_id, rest[1], "/".join(rest[2:]), recursive, head)
        if parts == ["api", "whoami-v2"]:
            return self._whoami(head)
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type, parts = parts[0][:-1], parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(repo_type, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head)
        self._error(404, f"no route for GET {url.path}", head=head)

    # ------------------------------------------------------------------ endpoints
    def _whoami(self, head: bool) -> None:
        """The token's user: ``hf_<name>_token`` is user ``<name>`` (Gradio's local OAuth mock signs
        visitors in as the app's token user), any other token the user ``loopback``."""
        token = self.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return self._error(401, "no token", head=head)
        name = token[3:-6] if token.startswith("hf_") and token.endswith("_token") else "loopback"
        self._send(
            200,
            {"type": "user", "name": name, "fullname": name.title(), "avatarUrl": "", "orgs": []},
            head=head,
        )

    def _create_repo(self, payload: dict) -> None:
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or "user"
        repo_id = f"{namespace}/{payload['name']}"
        _, created = self.state.create(repo_type, repo_id, bool(payload.get("private")))
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.endpoint}/{prefix}{repo_id}"
        if not created:
            return self._send(
                409,
                {"error": "You already created this repo", "url": url},
                headers={"X-Error-Message": "You already created this repo"},
            )
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _preupload(self, repo_type: str, repo_id: str, payload: dict) -> None:
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        _, files = repo.head
        answers = []
        for item in payload.get("files", []):
            path, size = item["path"], int(item.get("size", 0))
            lfs = path.lower().endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE
            existing = files.get(path)
            answers.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.oid if existing else None,
                }
            )
        self._send(200, {"files": answers, "commitOid": repo.head[0]})

    def _lfs_batch(self, payload: dict) -> None:
        objects = []
        for item in payload.get("objects", []):
            oid, size = item["oid"], int(item["size"])
            entry: dict = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.state.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self.endpoint}/lfs-upload/{oid}", "header": {}}}
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def _commit(self, repo_type: str, repo_id: str, revision: str, body: bytes) -> None:
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        on_branch = revision in repo.branches
        if revision not in ("main", repo.head[0]) and not on_branch:
            return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        with self.state.lock:
            files = dict((repo.branches[revision] if on_branch else repo.head)[1])
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "file":
                    files[value["path"]] = StoredFile(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    content = self.state.lfs_objects.get(value["oid"])
                    if content is None:
                        return self._error(
                            400, f"LFS object {value['oid']} for {value['path']} was never uploaded"
                        )
                    files[value["path"]] = StoredFile(content, lfs_sha256=value["oid"])
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: f for p, f in files.items() if not p.startswith(prefix)}
            sha = _new_sha()
            if on_branch:
                repo.branches[revision] = (sha, files)
            else:
                repo.commits.append((sha, files))
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        self._send(
            200,
            {
                "commitUrl": f"{self.endpoint}/{prefix}{repo_id}/commit/{sha}",
                "commitOid": sha,
                "pullRequestUrl": None,
            },
        )

    def _create_branch(self, repo_type: str, repo_id: str, branch: str, payload: dict) -> None:
        """A branch from main's head (or ``startingPoint``); 409 when it exists, as the Hub answers."""
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        with self.state.lock:
            if branch in repo.branches or branch == "main":
                return self._error(409, f"Reference already exists: refs/heads/{branch}")
            start = repo.snapshot(payload.get("startingPoint") or "main")
            if start is None:
                return self._error(404, f"Invalid rev id: {payload.get('startingPoint')}", "RevisionNotFound")
            repo.branches[branch] = start
        self._send(200, {})

    def _file_entry(self, path: str, stored: StoredFile) -> dict:
        entry = {"type": "file", "path": path, "oid": stored.oid, "size": len(stored.content)}
        if stored.lfs_sha256:
            entry["lfs"] = {"oid": stored.lfs_sha256, "size": len(stored.content), "pointerSize": 134}
        return entry

    def _repo_info(self, repo_type: str, repo_id: str, revision: str, head: bool) -> None:
        found = self._snapshot(repo_type, repo_id, revision, head)
        if found is None:
            return None
        repo, sha, files = found
        info = {
            "id": repo_id,
            "sha": sha,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "tags": [],
            "siblings": [{"rfilename": path, "size": len(f.content)} for path, f in sorted(files.items())],
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        self._send(200, info, head=head)

    def _tree(
        self, repo_type: str, repo_id: str, revision: str, folder: str, recursive: bool, head: bool
    ) -> None:
        found = self._snapshot(repo_type, repo_id, revision, head)
        if found is None:
            return None
        _, _, files = found
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        entries, folders = [], set()
        for path, stored in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            relative = path[len(prefix) :]
            if "/" in relative:
                top = relative.split("/")[0]
                folders.add(prefix + top)
                if recursive:
                    parts = relative.split("/")[:-1]
                    folders.update(prefix + "/".join(parts[: i + 1]) for i in range(len(parts)))
                    entries.append(self._file_entry(path, stored))
            else:
                entries.append(self._file_entry(path, stored))
        if prefix and not entries and not folders:
            return self._error(404, f"{folder} not found in {repo_id}", "EntryNotFound", head)
        tree = [
            {"type": "directory", "path": f, "oid": git_blob_oid(f.encode()), "size": 0}
            for f in sorted(folders)
        ]
        self._send(200, tree + entries, head=head)

    def _paths_info(self, repo_type: str, repo_id: str, revision: str, body: bytes) -> None:
        found = self._snapshot(repo_type, repo_id, revision)
        if found is None:
            return None
        _, _, files = found
        try:
            paths = json.loads(body).get("paths", [])
        except json.JSONDecodeError:
            paths = parse_qs(body.decode()).get("paths", [])
        result = []
        for path in paths:
            if path in files:
                result.append(self._file_entry(path, files[path]))
            elif any(p.startswith(path.rstrip("/") + "/") for p in files):
                result.append(
                    {"type": "directory", "path": path, "oid": git_blob_oid(path.encode()), "size": 0}
                )
        self._send(200, result)

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str, head: bool) -> None:
        found = self._snapshot(repo_type, repo_id, revision, head)
        if found is None:
            return None
        _, sha, files = found
        stored = files.get(path)
        if stored is None:
            return self._error(404, f"{path} not found in {repo_id}@{revision}", "EntryNotFound", head)
        headers = {"ETag": f'"{stored.oid}"', "X-Repo-Commit": sha}
        if stored.lfs_sha256:
            headers["X-Linked-Etag"] = f'"{stored.lfs_sha256}"'
            headers["X-Linked-Size"] = str(len(stored.content))
        self._send(200, headers=headers, raw=stored.content, head=head)


class LoopbackHubServer(ThreadingHTTPServer):
    """``with LoopbackHubServer() as hub: os.environ["HF_ENDPOINT"] = hub.endpoint``"""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), HubRequestHandler)
        self.state = HubState()
        self.endpoint = f"http://{host}:{self.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> LoopbackHubServer:
        self._thread = threading.Thread(target=self.serve_forever, name="loopback-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackHubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _endpoint_overrides(endpoint: str) -> list[tuple[str, str, object]]:
    """Module-level values that huggingface_hub, datasets and diffusers read from the environment at
    import time; an endpoint switch after import must reach each of them."""
    return [
        ("huggingface_hub.constants", "ENDPOINT", endpoint),
        (
            "huggingface_hub.constants",
            "HUGGINGFACE_CO_URL_TEMPLATE",
            endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        ),
        ("huggingface_hub.constants", "HF_HUB_OFFLINE", False),
        ("huggingface_hub.constants", "HF_HUB_DISABLE_XET", True),
        ("huggingface_hub.constants", "HF_HUB_ETAG_TIMEOUT", 10),
        ("datasets.config", "HF_ENDPOINT", endpoint),
        ("datasets.config", "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"),
        ("datasets.config", "HF_HUB_OFFLINE", False),
        ("datasets.config", "HF_DATASETS_OFFLINE", False),
        ("diffusers.utils.constants", "HUGGINGFACE_CO_RESOLVE_ENDPOINT", endpoint),
        ("diffusers.utils.constants", "HF_HUB_OFFLINE", False),
        ("diffusers.utils.hub_utils", "HF_HUB_OFFLINE", False),
        ("diffusers.loaders.lora_base", "HF_HUB_OFFLINE", False),
    ]


@contextlib.contextmanager
def hub_endpoint(endpoint: str, token: str = "hf_loopback_test_token") -> Iterator[str]:
    """Point every Hub client in this process at ``endpoint`` (env vars and import-time constants,
    the default ``HfApi`` instance included), online and without Xet; restore everything on exit."""
    import huggingface_hub.hf_api

    env = {"HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": token}
    saved_env = {key: os.environ.get(key) for key in env}
    saved_attrs = []
    try:
        os.environ.update(env)
        for module_name, attr, value in _endpoint_overrides(endpoint):
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            saved_attrs.append((module, attr, getattr(module, attr, None)))
            setattr(module, attr, value)
        saved_attrs.append((huggingface_hub.hf_api.api, "endpoint", huggingface_hub.hf_api.api.endpoint))
        huggingface_hub.hf_api.api.endpoint = endpoint
        yield endpoint
    finally:
        for module, attr, value in reversed(saved_attrs):
            setattr(module, attr, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
