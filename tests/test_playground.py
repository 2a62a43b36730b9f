"""The playground's server, sessions and script, without a browser (that is
``tests/test_playground_browser.py``).

Every refused request must answer 4xx with a message naming what was wrong, change nothing and
leave the server up; two tabs train at once and each one's "Copy as Python" script reaches its
weights bit for bit; frames arrive at 10 or more a second for a 2-8-8-1 network.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from scratchnn.playground import (  # noqa: E402
    LIMITS,
    Session,
    Settings,
    SettingsError,
    parse_settings,
    parse_table,
)
from scratchnn.playground.registry import Registry  # noqa: E402
from scratchnn.playground.server import running  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"data": "xor", "samples": 200, "layers": [{"units": 8, "activation": "tanh"}] * 2}


def run_script(code: str, folder: Path) -> dict:
    """Run a "Copy as Python" script in ``folder`` (it saves a file there); its globals."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        namespace: dict = {"__name__": "__main__"}
        exec(compile(code, "playground_script.py", "exec"), namespace)
        return namespace
    finally:
        os.chdir(cwd)


# -- settings and uploads -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, message",
    [
        ({"lr": float("nan")}, "lr must be a number above 0 up to 10, got nan"),
        ({"lr": "NaN"}, "lr must be a number above 0 up to 10, got 'NaN'"),
        ({"lr": -0.1}, "lr must be a number above 0 up to 10, got -0.1"),
        ({"lr": 0}, "lr must be a number above 0"),
        ({"layers": [{"units": 4, "activation": "relu"}] * 10_000}, "got 10000"),
        ({"layers": [{"units": 10**9, "activation": "relu"}]}, "hidden layer 1: units must be"),
        ({"layers": [{"units": 4, "activation": "swish"}]}, "activation must be one of relu"),
        ({"layers": [{"units": 4}]}, "hidden layer 1 must be {'units': N, 'activation': NAME}"),
        ({"layers": "8,8"}, "layers must be a list of 0 to 6 hidden layers"),
        ({"learning_rate": 0.1}, "unknown field(s) learning_rate; known: data,"),
        ({"samples": 1e9}, "samples must be a whole number from 20 to 2000, got 1000000000.0"),
        ({"samples": True}, "samples must be a whole number"),
        ({"batch_norm": "yes"}, "batch_norm must be true or false, got 'yes'"),
        ({"data": "mnist"}, "data must be one of xor, moons, circles, spirals, blobs, upload"),
        ({"validation": 0.01}, "validation must be 0 or from 0.05 up to 0.5"),
        ({"dropout": 1.0}, "dropout must be a number from 0 up to 0.9, got 1.0"),
        ([1, 2], "settings must be a JSON object, got list"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_the_field(values, message):
    with pytest.raises(SettingsError) as caught:
        parse_settings(values)
    assert message in str(caught.value)


def test_settings_not_given_keep_the_current_ones():
    base = parse_settings({"data": "moons", "lr": 0.1})
    changed = parse_settings({"noise": 0.3}, base)
    assert (changed.data, changed.lr, changed.noise) == ("moons", 0.1, 0.3)
    assert parse_settings(changed.to_json()) == changed


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"x,y,label\n" + b"1,2\n" * 30, "line 2: expected 3 fields x1,x2,label, got 2"),
        (b"1,2,a\n" * 10 + b"1,nan,b\n" * 10, "line 11: x1 and x2 must be finite numbers"),
        (b"1,2,a\n" * 5, "the file must have 20 to 2000 data rows, got 5"),
        (b"1,2,a\n" * 30, "the file must have 2 to 5 classes, got 1"),
        (b"\xff\xfe1,2,a\n" * 30, "the file is not UTF-8 text (byte 0)"),
        (b"1,2,a\n" * 300_000, "the file has 1,800,000 bytes; the most is 1,000,000"),
    ],
)
def test_malformed_uploads_are_refused_naming_the_line(raw, message):
    with pytest.raises(SettingsError) as caught:
        parse_table(raw)
    assert message in str(caught.value)


def test_an_upload_keeps_its_labels_and_skips_its_header():
    rows = "".join(f"{i / 10},{-i / 10},{'cat' if i % 2 else 'dog'}\n" for i in range(40))
    table = parse_table(("x1,x2,animal\n" + rows).encode())
    assert table.names == ("cat", "dog")
    assert table.X.shape == (40, 2) and table.X[3].tolist() == [0.3, -0.3]
    assert table.y[:3].tolist() == [1, 0, 1]


# -- a session and its script -------------------------------------------------------------------
def train(session: Session, epochs: int) -> None:
    for _ in range(epochs):
        session.step()
        session.pause()  # waits until the step's epoch has ended
    assert session.state == "paused" and session.epochs == epochs


@pytest.mark.parametrize(
    "values",
    [
        SMALL,
        {"data": "spirals", "classes": 3, "samples": 150, "batch_norm": True, "dropout": 0.2,
         "l2": 0.001, "optimizer": "rmsprop", "validation": 0},
        {"data": "blobs", "classes": 4, "samples": 100, "layers": [], "optimizer": "sgd"},
    ],
)  # fmt: skip
def test_the_python_script_reaches_the_same_weights_bit_for_bit(values, tmp_path):
    session = Session()
    session.apply(parse_settings(values))
    train(session, 3)
    model, _, _, epochs = session.snapshot()
    namespace = run_script(session.script(), tmp_path)
    assert epochs == 3 and len(namespace["history"].epoch) == 3
    np.testing.assert_array_equal(namespace["model"].get_flat_weights(), model.get_flat_weights())
    assert (tmp_path / "playground-model.npz").is_file()
    session.close()


def test_the_script_of_an_uploaded_file_carries_its_rows(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(60, 2))
    lines = [f"{x!r},{y!r},{'in' if x * y > 0 else 'out'}" for x, y in points.tolist()]
    session = Session()
    with pytest.raises(SettingsError, match="no CSV file was uploaded"):
        session.apply(parse_settings({"data": "upload"}))
    session.upload(parse_table("\n".join(lines).encode()))
    session.apply(parse_settings({"data": "upload"}))
    train(session, 2)
    code = session.script()
    assert "class k is ['in', 'out'][k]" in code
    namespace = run_script(code, tmp_path)
    np.testing.assert_array_equal(namespace["X"], points)
    weights = session.snapshot()[0].get_flat_weights()
    np.testing.assert_array_equal(namespace["model"].get_flat_weights(), weights)
    session.close()


def test_a_finished_run_says_why_and_asks_for_a_reset(monkeypatch):
    monkeypatch.setitem(LIMITS, "epochs", 5)
    session = Session()
    session.apply(parse_settings(SMALL))
    session.play()
    deadline = time.monotonic() + 20
    while session.state != "finished" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session.state == "finished" and session.epochs == 5
    assert session.message == "the most epochs of one run (5) are done"
    with pytest.raises(SettingsError, match="this run has ended .* press Reset"):
        session.play()
    session.reset()
    assert (session.state, session.epochs) == ("ready", 0)
    session.close()


# -- over HTTP ----------------------------------------------------------------------------------
class Client:
    """One browser tab's requests, by hand."""

    def __init__(self, base: str) -> None:
        self.base = base
        status, reply = self.call("POST", "api/sessions")
        assert status == 200, reply
        self.id = reply["id"]

    def call(self, method: str, path: str, body: bytes | None = None, headers=None):
        request = urllib.request.Request(self.base + path, body, headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                raw = reply.read()
                status = reply.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def session(self, method: str, what: str, body: bytes | None = None, headers=None):
        return self.call(method, f"api/sessions/{self.id}/{what}", body, headers)

    def settings(self, values) -> tuple[int, dict]:
        return self.session("POST", "settings", json.dumps(values).encode())

    def claim(self, what: str, size: int) -> tuple[int, dict]:
        """Send only the headers of a POST of ``size`` bytes: the server answers on them."""
        host, port = self.base.split("//")[1].strip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.putrequest("POST", f"/api/sessions/{self.id}/{what}")
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        reply = connection.getresponse()
        try:
            return reply.status, json.load(reply)
        finally:
            connection.close()

    def frames(self, seconds: float) -> list[dict]:
        """The frames the event stream sends during ``seconds``."""
        host, port = self.base.split("//")[1].strip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", f"/api/sessions/{self.id}/events")
        reply = connection.getresponse()
        assert reply.status == 200 and reply.getheader("Content-Type").startswith("text/event")
        frames, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            line = reply.fp.readline()
            if line.startswith(b"data: "):
                frames.append(json.loads(line[6:]))
        connection.close()
        return frames


@pytest.fixture(scope="module")
def base():
    with running(registry=Registry(max_sessions=64, idle_seconds=120)) as url:
        yield url


def test_the_page_and_its_files_are_served_from_the_package(base):
    client = Client(base)
    status, page = client.call("GET", "")
    assert status == 200 and b"<title>scratchnn playground</title>" in page
    for name in ("playground.js", "playground.css"):
        assert client.call("GET", f"static/{name}")[0] == 200
    assert b"http" not in client.call("GET", "static/playground.js")[1]  # nothing from elsewhere
    assert client.call("GET", "static/../settings.py")[0] == 404
    status, limits = client.call("GET", "api/limits")
    assert limits["limits"]["upload_bytes"] == LIMITS["upload_bytes"]
    assert limits["defaults"] == Settings().to_json()


def test_bad_requests_change_nothing_and_the_server_stays_up(base):
    client = Client(base)
    assert client.settings(SMALL)[0] == 200
    before = client.session("GET", "points")[1]
    refused = [
        (client.settings({"lr": float("nan")}), 400, "lr must be a number above 0"),
        (client.settings({"lr": -1}), 400, "lr must be a number above 0"),
        (client.settings({"layers": [{"units": 2, "activation": "relu"}] * 10_000}), 400,
         "layers must be a list of 0 to 6 hidden layers, got 10000"),
        (client.settings({"layers": [{"units": 10**9, "activation": "relu"}]}), 400,
         "units must be a whole number from 1 to 32, got 1000000000"),
        (client.settings({"colour": "red"}), 400, "unknown field(s) colour"),
        (client.session("POST", "settings", b"{lr: 1"), 400, "the request is not valid JSON"),
        (client.session("POST", "settings", b"[" * 100_000), 400, "not valid JSON"),
        (client.claim("settings", 2_000_000), 413, "has 2000000 bytes; the most is 1,000,000"),
        (client.session("POST", "upload", b"1,2\n" * 50), 400, "line 1: expected 3 fields"),
        (client.session("POST", "jump"), 404, "unknown action 'jump'"),
        (client.session("GET", "weights.txt"), 404, "unknown download 'weights.txt'"),
        (client.call("POST", "api/sessions/nobody/play"), 404, "reload the page"),
    ]  # fmt: skip
    for (status, reply), expected_status, message in refused:
        assert status == expected_status, reply
        assert message in reply["error"], reply
    assert client.session("GET", "points")[1] == before
    assert client.call("GET", "")[0] == 200


def test_a_100_mb_upload_is_refused_before_it_is_read(base):
    client = Client(base)
    status, reply = client.claim("upload", 100 * 2**20)
    assert status == 413
    assert reply["error"] == "the request has 104857600 bytes; the most is 1,000,000"
    # Without a length (chunked), reading stops at the limit.
    chunks = iter([b"1,2,a\n" * 50_000] * 4)
    status, reply = client.session("POST", "upload", chunks, {"Transfer-Encoding": "chunked"})
    assert status == 413 and "more than 1,000,000 bytes" in reply["error"]
    assert client.call("GET", "api/limits")[0] == 200


def test_an_uploaded_file_becomes_the_data_set(base):
    client = Client(base)
    rows = "".join(f"{i % 7},{i % 5},{'yes' if i % 3 else 'no'}\n" for i in range(60))
    status, reply = client.session("POST", "upload", ("a,b,label\n" + rows).encode())
    assert status == 200 and reply == {"rows": 60, "classes": ["no", "yes"]}
    assert client.settings({"data": "upload", "validation": 0})[0] == 200
    points = client.session("GET", "points")[1]
    assert points["classes"] == ["no", "yes"] and len(points["train"]["X"]) == 60
    assert points["train"]["X"][1] == [1, 1] and points["train"]["y"][:3] == [0, 1, 1]


def test_the_page_ships_in_the_package_data():
    import tomllib

    import scratchnn.playground

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["scratchnn.playground"]
    static = Path(scratchnn.playground.__file__).parent / "static"
    files = sorted(path.relative_to(static.parent) for path in static.iterdir())
    assert [p.name for p in files] == ["index.html", "playground.css", "playground.js"]
    assert all(any(p.match(pattern) for pattern in patterns) for p in files)
    assert "starlette" in str(config["project"]["optional-dependencies"]["dev"])


def test_requests_for_another_host_are_refused(base):
    client = Client(base)
    status, reply = client.call("GET", "api/limits", headers={"Host": "attacker.example"})
    assert status == 400


def test_two_tabs_train_at_once_and_each_script_reproduces_its_tab(base, tmp_path):
    first, second = Client(base), Client(base)
    assert first.settings(SMALL)[0] == 200
    spirals = {"data": "spirals", "classes": 3, "samples": 150, "batch_norm": True}
    assert second.settings(spirals)[0] == 200
    assert first.session("POST", "play")[1]["state"] == "running"
    assert second.session("POST", "play")[1]["state"] == "running"
    # The server answers while both fit.
    started = time.monotonic()
    assert first.call("GET", "api/limits")[0] == 200
    assert time.monotonic() - started < 1
    frames = first.frames(1.0)
    assert frames[-1]["epochs"] > frames[0]["epochs"] and frames[-1]["state"] == "running"
    for client, folder in ((first, "first"), (second, "second")):
        status, reply = client.session("POST", "pause")
        assert status == 200 and reply["state"] == "paused" and reply["epochs"] > 0
        status, script = client.session("GET", "script.py")
        assert f"epochs={reply['epochs']}," in script.decode()
        status, raw = client.session("GET", "model.npz")
        (tmp_path / f"{folder}.npz").write_bytes(raw)
        (tmp_path / folder).mkdir()
        namespace = run_script(script.decode(), tmp_path / folder)
        import scratchnn

        model = scratchnn.load(tmp_path / f"{folder}.npz")
        np.testing.assert_array_equal(
            namespace["model"].get_flat_weights(), model.get_flat_weights()
        )
    assert len(first.session("GET", "points")[1]["classes"]) == 2
    assert len(second.session("GET", "points")[1]["classes"]) == 3


@pytest.mark.slow
def test_frames_reach_the_page_at_10_or_more_a_second_for_a_2_8_8_1_network(base):
    client = Client(base)
    assert client.settings(SMALL)[0] == 200
    client.session("POST", "play")
    frames = client.frames(3.0)
    client.session("POST", "pause")
    running_frames = [f for f in frames if f["state"] == "running"]
    rate = (len(running_frames) - 1) / (running_frames[-1]["time"] - running_frames[0]["time"])
    print(f"playground frames: {rate:.1f} per second (2-8-8-1, xor, 160 training samples)")
    assert rate >= 10
    widths = [len(layer) for layer in frames[-1]["neurons"]]
    assert widths == [8, 8, 1] and len(frames[-1]["weights"]) == 3
    assert all(math.isfinite(v) for v in running_frames[-1]["metrics"].values())


def test_the_onnx_export_downloads(base):
    pytest.importorskip("onnx")
    client = Client(base)
    status, raw = client.session("GET", "model.onnx")
    assert status == 200 and b"scratchnn" in raw[:40]


def test_idle_sessions_are_freed_and_their_tab_told_to_reload():
    registry = Registry(idle_seconds=0.2)
    session = registry.create()
    session.play()
    deadline = time.monotonic() + 5
    while (len(registry) or session.state != "finished") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(registry) == 0
    assert session.closed and session.state == "finished"
    with pytest.raises(LookupError, match="reload the page"):
        registry.get(session.id)
    registry.close()


def test_too_many_tabs_are_refused_with_the_limit():
    registry = Registry(max_sessions=2)
    registry.create(), registry.create()
    with pytest.raises(SettingsError, match=r"2 tabs have a playground open already \(the most"):
        registry.create()
    registry.close()


# -- the command --------------------------------------------------------------------------------
def test_the_command_serves_until_ctrl_c_and_stops_cleanly():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from scratchnn.cli import main; raise SystemExit(main())",
         "playground"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("scratchnn playground: http://127.0.0.1:"), line
        url = line.split()[2]
        client = Client(url)
        assert client.call("GET", "")[0] == 200
        client.session("POST", "play")
        events = http.client.HTTPConnection(
            url.split("//")[1].split(":")[0], int(url.rstrip("/").rsplit(":", 1)[1]), timeout=10
        )
        events.request("GET", f"/api/sessions/{client.id}/events")  # an open stream
        assert events.getresponse().status == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "scratchnn playground: stopped" in out and "Traceback" not in err


def test_a_bad_port_is_a_usage_error():
    from scratchnn.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["playground", "--port", "70000"])
    assert caught.value.code == 2


def test_without_the_web_stack_the_command_says_which_extra_to_install():
    code = (
        "import sys; sys.modules['uvicorn'] = None; from scratchnn.cli import main; "
        "raise SystemExit(main(['playground']))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert "uvicorn is missing): pip install 'scratchnn[playground]'" in result.stderr
