"""Loading a Hub id with no Hub: one `Error:` line within seconds, for every verb that loads one.

Three ways the Hub is missing: HF_HUB_OFFLINE is set; HF_ENDPOINT points at a closed local port; HF_ENDPOINT points at
a local server that accepts connections and never answers. Ids are made up, so no cache ever holds them. The time
bound is a guard (the call runs in a thread or subprocess we stop waiting for), not a timing assertion: the
measured times are in README.md's "Network" notes.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from prefbuild import hub_access
from prefbuild.errors import PrefbuildError
from tests.conftest_train import write_pair_folder

ROOT = Path(__file__).parents[1]
GUARD_S = 30  # generous: the network part takes at most about PROBE_TIMEOUT_S (5 s; 1 s in the in-process tests)
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_port_endpoint():
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


@pytest.fixture
def silent_endpoint():
    """A server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def not_found_endpoint():
    """A stand-in Hub that answers: 200 to the probe, 404 (repository not found) to everything else."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            status = 200 if self.path == "/" else 404
            body = b"" if status == 200 else b'{"error": "Repository not found"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 404:
                self.send_header("X-Error-Code", "RepoNotFound")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _answer

        def log_message(self, *args):  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def use_endpoint(monkeypatch, url: str | None) -> None:
    """Point this process at `url` with offline mode off, or (url None) switch offline mode on."""
    import datasets.config
    from huggingface_hub import constants

    for name in OFFLINE_VARS:
        monkeypatch.delenv(name, raising=False)
    offline = url is None
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", offline)
    hub_access.probe.cache_clear()


def call_within(seconds: float, function, *args):
    """Run `function(*args)` in a thread; fail the test if it is still running after `seconds`."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def assert_one_line(error: PrefbuildError, *parts: str) -> None:
    message = str(error)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message


@pytest.fixture(params=["offline", "closed-port", "silent-server"])
def no_hub(request, monkeypatch):
    """Each way the Hub can be missing, with the words the error must contain."""
    if request.param == "offline":
        use_endpoint(monkeypatch, None)
        return ["HF_HUB_OFFLINE is set", "not in the local Hugging Face cache", "or unset HF_HUB_OFFLINE"]
    url = request.getfixturevalue("closed_port_endpoint" if request.param == "closed-port" else "silent_endpoint")
    use_endpoint(monkeypatch, url)
    monkeypatch.setattr(hub_access, "PROBE_TIMEOUT_S", 1.0)  # in-process tests wait 1 s; the CLI tests the real 5 s
    why = "(connection refused)" if request.param == "closed-port" else "(no answer within 1 s)"
    return [f"the Hugging Face Hub at {url.removeprefix('http://')} is unreachable {why}", "not in the local cache"]


def test_build_tokenizer(no_hub):
    from prefbuild.build import _load_tokenizer

    with pytest.raises(PrefbuildError) as caught:
        call_within(GUARD_S, _load_tokenizer, "prefbuild-tests/no-such-tokenizer")
    assert_one_line(caught.value, "Cannot load tokenizer 'prefbuild-tests/no-such-tokenizer'", *no_hub,
                    "Pass --tokenizer a local folder")  # fmt: skip


def test_load_source_hub_id(no_hub):
    from prefbuild.sources import load_source

    with pytest.raises(PrefbuildError) as caught:
        call_within(GUARD_S, load_source, "prefbuild-tests/no-such-dataset")
    assert_one_line(caught.value, "Cannot load dataset 'prefbuild-tests/no-such-dataset'", *no_hub,
                    "Pass --source a local file or folder")  # fmt: skip


def test_analyze_model(no_hub):
    from prefbuild.analysis.analyze import load_model

    with pytest.raises(PrefbuildError) as caught:
        call_within(GUARD_S, load_model, "prefbuild-tests/no-such-model", "cpu")
    assert_one_line(caught.value, "Cannot load model 'prefbuild-tests/no-such-model'", *no_hub,
                    "Pass --model a local folder")  # fmt: skip


def test_train_model_and_dataset(no_hub, tmp_path):
    from prefbuild.train.run import main

    recipe = ROOT / "recipes" / "tiny" / "dpop.yaml"
    pairs = write_pair_folder(tmp_path / "pairs")
    base = ["--config", str(recipe), "--output_dir", str(tmp_path / "out"), "--max_steps", "1"]
    with pytest.raises(PrefbuildError) as caught:
        call_within(GUARD_S, main, [*base, "--model_name_or_path", "prefbuild-tests/no-such-model",
                                    "--dataset_name", str(pairs)])  # fmt: skip
    assert_one_line(caught.value, "Cannot load model 'prefbuild-tests/no-such-model'", *no_hub,
                    "Set `model_name_or_path` to a local folder")  # fmt: skip
    with pytest.raises(PrefbuildError) as caught:
        call_within(GUARD_S, main, [*base, "--model_name_or_path", "prefbuild-tests/no-such-model",
                                    "--dataset_name", "prefbuild-tests/no-such-pairs"])  # fmt: skip
    assert_one_line(caught.value, "Cannot load dataset 'prefbuild-tests/no-such-pairs'", *no_hub,
                    "Set `dataset_name` to a folder written by `prefbuild build`")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_probe(monkeypatch, closed_port_endpoint, silent_endpoint, not_found_endpoint):
    use_endpoint(monkeypatch, closed_port_endpoint)  # offline mode off (it blocks every request of the session)
    assert hub_access.probe(closed_port_endpoint) == "connection refused"
    assert hub_access.probe(silent_endpoint, timeout=0.5) == "no answer within 0.5 s"
    assert hub_access.probe(not_found_endpoint) is None
    hub_access.probe.cache_clear()


def test_offline_mode_sends_nothing(monkeypatch):
    # With HF_HUB_OFFLINE the probe is never sent: an exploding probe proves it
    use_endpoint(monkeypatch, None)
    monkeypatch.setattr(hub_access, "probe", lambda *args: pytest.fail("probed the Hub in offline mode"))
    with pytest.raises(PrefbuildError, match="HF_HUB_OFFLINE is set"):
        with hub_access.hub_access("dataset", "x/y", "Use a folder"):
            raise ConnectionError("Couldn't reach 'x/y' on the Hub (OfflineModeIsEnabled)")


def cli(args: list[str], env_update: dict[str, str]) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in OFFLINE_VARS}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_DISABLE_TELEMETRY="1", **env_update)
    return subprocess.run(
        [sys.executable, "-m", "prefbuild", *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )  # fmt: skip - 60 s: the guard plus the interpreter's imports


@pytest.mark.parametrize("hub", ["offline", "closed-port", "silent-server"])
def test_cli_build_from_unreachable_hub_id(tmp_path, hub, request):
    # The real command line, as a user meets it: one Error line, exit 1, no retry lines, no traceback, no folder
    if hub == "offline":
        env = {"HF_HUB_OFFLINE": "1"}
    else:
        env = {"HF_ENDPOINT": request.getfixturevalue("closed_port_endpoint" if hub == "closed-port" else
                                                      "silent_endpoint")}  # fmt: skip
    result = cli(["build", "arc", "--source", "prefbuild-tests/no-such-dataset", "--out", str(tmp_path / "out")], env)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Cannot load dataset 'prefbuild-tests/no-such-dataset': ")
    assert "Retry" not in result.stderr and "Traceback" not in result.stderr
    if hub == "silent-server":
        assert "(no answer within 5 s)" in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_a_hub_that_answers_keeps_its_own_message(tmp_path, not_found_endpoint):
    # 404 is an answer, not an outage: the probe passes and the caller's own message stays (a subprocess, because
    # huggingface_hub reads HF_ENDPOINT at import)
    result = cli(["build", "arc", "--source", "prefbuild-tests/no-such-dataset", "--out", str(tmp_path / "out")],
                 {"HF_ENDPOINT": not_found_endpoint})  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Cannot load --source 'prefbuild-tests/no-such-dataset': ")
    assert "doesn't exist on the Hub or cannot be accessed. Check the id, run `hf auth login`" in lines[0]
    assert "unreachable" not in lines[0] and "not cached in None" not in lines[0]


def test_paths_are_never_probed(monkeypatch, tmp_path):
    from prefbuild.build import _load_tokenizer

    assert not hub_access.is_local("gpt2") and not hub_access.is_local("owner/name")
    assert hub_access.is_local("./tok") and hub_access.is_local("/abs") and hub_access.is_local("runs/x/tok")
    assert hub_access.is_local(tmp_path)
    use_endpoint(monkeypatch, "http://127.0.0.1:9")
    monkeypatch.setattr(hub_access, "probe", lambda *args: pytest.fail("probed the Hub for a local path"))
    with pytest.raises(PrefbuildError, match="^Cannot load --tokenizer './no-such-folder': "):
        _load_tokenizer("./no-such-folder")


def test_a_hub_that_stops_answering_mid_load_is_one_line(monkeypatch, closed_port_endpoint):
    # The probe passed, then a download timed out: transformers wraps the transport error in an OSError
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    use_endpoint(monkeypatch, closed_port_endpoint)
    monkeypatch.setattr(hub_access, "probe", lambda url: None)
    with pytest.raises(PrefbuildError) as caught:
        with hub_access.hub_access("model", "x/y", "Use a folder"):
            try:
                raise httpx2.ReadTimeout("timed out")
            except httpx2.ReadTimeout as error:
                raise OSError("We couldn't connect to the Hub") from error
    host = closed_port_endpoint.removeprefix("http://")
    assert str(caught.value) == (
        f"Cannot load model 'x/y': the Hugging Face Hub at {host} stopped answering (no answer within 5 s). Use a folder."
    )
    # An HTTP answer (here a 404) is not an outage: the error passes through for the caller's own message
    with pytest.raises(OSError, match="not found"):
        with hub_access.hub_access("model", "x/y", "Use a folder"):
            try:
                request = httpx2.Request("GET", f"{closed_port_endpoint}/api/models/x/y")
                raise HfHubHTTPError("404 Client Error", response=httpx2.Response(404, request=request))
            except HfHubHTTPError as error:
                raise OSError("x/y not found") from error


def test_any_offline_switch_keeps_every_library_offline(monkeypatch, closed_port_endpoint):
    # HF_DATASETS_OFFLINE alone would leave transformers online (and retrying): the model load stays offline too
    from prefbuild.analysis.analyze import load_model

    use_endpoint(monkeypatch, closed_port_endpoint)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(hub_access, "probe", lambda *args: pytest.fail("probed the Hub in offline mode"))
    with pytest.raises(PrefbuildError, match="HF_DATASETS_OFFLINE is set and it is not in the local Hugging Face"):
        call_within(GUARD_S, load_model, "prefbuild-tests/no-such-model", "cpu")


@pytest.mark.parametrize("verb", [pytest.param("train", marks=pytest.mark.slow), "analyze"])  # train: ~15-30 s
def test_cli_model_id_with_unreachable_endpoint(tmp_path, verb, silent_endpoint, closed_port_endpoint):
    # The torch verbs through the real HF_ENDPOINT variable: train against the silent server, analyze a closed port
    pairs = write_pair_folder(tmp_path / "pairs")
    model = "prefbuild-tests/no-such-model"
    if verb == "train":
        endpoint, why = silent_endpoint, "(no answer within 5 s)"
        args = ["train", "--config", str(ROOT / "recipes" / "tiny" / "dpop.yaml"), "--model_name_or_path", model,
                "--dataset_name", str(pairs), "--output_dir", str(tmp_path / "out")]  # fmt: skip
    else:
        endpoint, why = closed_port_endpoint, "(connection refused)"
        args = ["analyze", "--model", model, "--data", str(pairs), "--out", str(tmp_path / "out")]
    result = cli(args, {"HF_ENDPOINT": endpoint})
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    host = endpoint.removeprefix("http://")
    assert errors == [
        f"Error: Cannot load model '{model}': the Hugging Face Hub at {host} is unreachable {why} and it is not in "
        f"the local cache. {'Set `model_name_or_path` to' if verb == 'train' else 'Pass --model'} a local folder "
        + ("(e.g. one from `prefbuild tiny-model --out runs/tiny-model`)." if verb == "train" else
           "(one written by `save_pretrained`, `prefbuild train` or `prefbuild tiny-model`).")
    ]  # fmt: skip
    assert "Traceback" not in result.stderr and "Retry" not in result.stderr
    assert not (tmp_path / "out").exists()
