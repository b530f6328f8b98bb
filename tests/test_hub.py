"""`prefbuild push`: the files and commit operations it sends, dry runs, errors, and the real huggingface_hub client
against a stand-in Hub on 127.0.0.1 (never the real Hub)."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, constants

from prefbuild.build import build_dataset
from prefbuild.errors import PrefbuildError
from prefbuild.hub import plan_push, push_folder
from tests.conftest import FIXTURES

TOKEN = "hf_standin_secret_token_123"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hub") / "arc"
    build_dataset("arc", source=str(FIXTURES / "arc"), out=out, command="prefbuild build arc", plot=False)
    return out


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plan_lists_one_add_per_file(built):
    plan = plan_push(built, "my-org/arc-dpop")
    assert plan.files == [
        "README.md",
        "data/eval-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "stats.json",
    ]
    assert [op.path_in_repo for op in plan.operations] == plan.files
    assert plan.commit_message == "Upload arc preference pairs built with prefbuild 0.1.0"


def test_dry_run_writes_exactly_the_built_folder(built, tmp_path, run_cli):
    code, out, err = run_cli("push", built, "--repo-id", "my-org/arc-dpop", "--dry-run", tmp_path / "dry")
    assert (code, err) == (0, "")
    assert _tree(tmp_path / "dry") == _tree(built)
    lines = out.splitlines()
    assert (
        lines[0]
        == "Commit to dataset my-org/arc-dpop: 'Upload arc preference pairs built with prefbuild 0.1.0', 4 operations"
    )
    assert [line.split()[1] for line in lines[1:5]] == sorted(_tree(built))
    assert lines[-1].startswith("Dry run: wrote the files that would be uploaded to ")


@pytest.mark.parametrize(
    ("repo_id", "message"),
    [
        ("arc-dpop", "Error: --repo-id 'arc-dpop' is not of the form ORG/NAME"),
        ("a/b/c", "Error: --repo-id 'a/b/c' is not of the form ORG/NAME"),
        ("org/bad--name", "Error: --repo-id 'org/bad--name' is not a valid Hub repository id: Cannot have -- or .."),
    ],
)
def test_malformed_repo_id(built, tmp_path, run_cli, repo_id, message):
    code, out, err = run_cli("push", built, "--repo-id", repo_id, "--dry-run", tmp_path / "dry")
    assert code == 1 and err.startswith(message) and not (tmp_path / "dry").exists()


def test_not_a_prefbuild_folder(tmp_path, run_cli):
    code, _, err = run_cli("push", tmp_path, "--repo-id", "org/name", "--dry-run", tmp_path / "dry")
    assert (code, err) == (1, f"Error: '{tmp_path}' is not a prefbuild output folder: it has no stats.json.\n")


def test_card_without_yaml_is_refused_before_upload(built, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "README.md").write_text("# just a title\n")
    with pytest.raises(PrefbuildError, match="has no YAML metadata block"):
        plan_push(copy, "org/name")


def test_no_token(built, run_cli, monkeypatch):
    monkeypatch.setattr("prefbuild.hub.get_token", lambda: None)
    code, _, err = run_cli("push", built, "--repo-id", "org/name")
    assert (code, err) == (
        1,
        "Error: No Hugging Face token found. Set HF_TOKEN to a token with write access, or run `hf auth login`.\n",
    )


class StandInHub(BaseHTTPRequestHandler):
    """Just enough of the Hub's API for create_repo / create_branch / preupload / commit; records what it got."""

    requests: list[tuple[str, str, dict, bytes]] = []
    status = 200

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.requests.append(("GET", self.path, dict(self.headers), b""))
        self._reply(self.status if self.status != 200 else 404, {"error": "stand-in"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append(("POST", self.path, dict(self.headers), body))
        if self.status != 200:
            return self._reply(self.status, {"error": "stand-in refuses"})
        host = f"http://{self.headers['Host']}"
        if self.path == "/api/repos/create":
            payload = json.loads(body)
            return self._reply(200, {"url": f"{host}/datasets/{payload['organization']}/{payload['name']}"})
        if self.path == "/api/validate-yaml":
            DatasetCard(json.loads(body)["content"])  # the card must parse; the real Hub checks more
            return self._reply(200, {})
        if "/branch/" in self.path:
            return self._reply(200, {})
        if "/preupload/" in self.path:
            files = json.loads(body)["files"]
            return self._reply(
                200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
            )
        if "/commit/" in self.path:
            return self._reply(200, {"commitUrl": f"{host}/datasets/org/arc/commit/abc123", "commitOid": "abc123"})
        return self._reply(404, {"error": "unknown route"})


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets offline mode; this server is loopback
    StandInHub.requests = []
    StandInHub.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInHub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_push_through_the_real_client(built, stand_in, capsys):
    result = push_folder(built, "org/arc", private=True, revision="v1", token=TOKEN, endpoint=stand_in)
    assert result.commit_url.endswith("/datasets/org/arc/commit/abc123")
    routes = [(method, path.split("?")[0]) for method, path, _, _ in StandInHub.requests]
    assert routes == [
        ("POST", "/api/repos/create"),
        ("POST", "/api/datasets/org/arc/branch/v1"),
        ("POST", "/api/validate-yaml"),
        ("POST", "/api/datasets/org/arc/preupload/v1"),
        ("POST", "/api/datasets/org/arc/commit/v1"),
    ]
    create = json.loads(StandInHub.requests[0][3])
    assert create["name"] == "arc" and create["organization"] == "org" and create["type"] == "dataset"
    assert create["visibility"] == "private" or create.get("private") is True
    assert all(headers["authorization"] == f"Bearer {TOKEN}" for _, _, headers, _ in StandInHub.requests)

    lines = [json.loads(line) for line in StandInHub.requests[-1][3].decode().splitlines()]
    assert lines[0]["key"] == "header"
    assert lines[0]["value"]["summary"] == "Upload arc preference pairs built with prefbuild 0.1.0"
    sent = {line["value"]["path"]: base64.b64decode(line["value"]["content"]) for line in lines[1:]}
    assert sent == _tree(built)  # one commit, every file, byte for byte
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "The Hub rejected the token (401 Unauthorized). Set a valid HF_TOKEN or run `hf auth login`."),
        (
            403,
            "No permission to write to 'org/arc' (403 Forbidden): the token needs write access to the 'org' namespace.",
        ),
    ],
)
def test_hub_refusals_are_one_line_errors(built, stand_in, status, message):
    StandInHub.status = status
    with pytest.raises(PrefbuildError) as error:
        push_folder(built, "org/arc", token=TOKEN, endpoint=stand_in)
    assert str(error.value) == message
    assert TOKEN not in str(error.value)


def test_cli_push_reads_hf_endpoint_and_hf_token(built, stand_in):
    """The command a user runs: HF_ENDPOINT and HF_TOKEN from the environment, the token never echoed."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_ENDPOINT": stand_in, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "prefbuild", "push", str(built), "--repo-id", "org/arc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"Pushed: {stand_in}/datasets/org/arc/commit/abc123"
    assert TOKEN not in done.stdout + done.stderr
    assert StandInHub.requests[-1][1].startswith("/api/datasets/org/arc/commit/main")


def test_a_server_that_never_answers_fails_within_the_bound(built, monkeypatch):
    """A stand-in that accepts connections and never replies: the push ends with one line naming the host."""
    import socket
    import time

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts; nobody reads or writes
    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
    started = time.monotonic()
    try:
        with pytest.raises(PrefbuildError) as error:
            push_folder(built, "org/arc", token=TOKEN, endpoint=endpoint, timeout=(1.0, 1.0))
    finally:
        silent.close()
    assert time.monotonic() - started < 30  # 1 s per request, and huggingface_hub retries a bounded number of times
    assert str(error.value).startswith(f"The Hub at {endpoint} did not answer in time")
    assert TOKEN not in str(error.value)


class NoUrlHub(StandInHub):
    """Answers 200 to repo creation, without the `url` field the client reads."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        return self._reply(200, {"unexpected": True})


def test_a_200_answer_without_the_expected_field(built, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), NoUrlHub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(PrefbuildError) as error:
            push_folder(built, "org/arc", token=TOKEN, endpoint=endpoint)
    finally:
        server.shutdown()
        server.server_close()
    assert str(error.value).startswith(f"The Hub at {endpoint} sent an answer prefbuild cannot read (KeyError: 'url')")


def test_push_plan_leaves_out_links_and_strays(built, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "notes.txt").write_text("not part of the set")
    (copy / "token").symlink_to(tmp_path / "nowhere")
    assert plan_push(copy, "org/arc").files == plan_push(built, "org/arc").files
