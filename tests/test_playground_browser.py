"""The playground in a real browser: headless Chromium (Debian's package) drives the page.

Driven as the documentation's browser test drives it (``tests/test_docs_browser.py``: the
DevTools protocol over a pipe, no other package, host names unresolvable): open the page, choose
spirals, add a layer, press Play, see the loss fall and the boundary change, Pause, download the
model and load it with ``scratchnn.load``, copy the Python code and run it to the same weights.
A screenshot goes to ``$SCRATCHNN_DOCS_SCREENSHOTS`` (``.ci/run`` sets it) or pytest's
temporary folder, and its path is printed. Skips without Chromium, except in CI (``CI`` set).
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from test_docs_browser import BROWSERS, Chromium, only_local  # noqa: E402

import scratchnn  # noqa: E402
from scratchnn.playground.server import running  # noqa: E402


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    executable = next(filter(None, map(shutil.which, BROWSERS)), None)
    if executable is None:
        message = "no Chromium: apt-get install chromium (Debian) to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; in CI they must run")
        pytest.skip(message)
    browser = Chromium(executable, tmp_path_factory.mktemp("playground-profile"))
    yield browser
    browser.close()


def wait(browser, session, condition: str, timeout: float = 20) -> object:
    """Poll a JavaScript expression in the page until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(session, condition)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout} s for {condition}")


def click(browser, session, element: str) -> None:
    browser.evaluate(session, f"document.getElementById({element!r}).click()")


def change(browser, session, element: str, value: str) -> None:
    browser.evaluate(
        session,
        f"(() => {{ const e = document.getElementById({element!r}); e.value = {value!r};"
        " e.dispatchEvent(new Event('change')); })()",
    )


DRAWN = "playground.frame && playground.points && playground.frame.run === playground.points.run"
BOUNDARY = "document.getElementById('boundary').toDataURL()"


@pytest.mark.slow
def test_a_person_trains_spirals_and_takes_the_model_and_its_code_home(
    chromium, tmp_path, tmp_path_factory
):
    with running() as url:
        page = chromium.open(url, width=1300, height=1000)
        wait(chromium, page, DRAWN)
        assert chromium.evaluate(page, "document.getElementById('limits').textContent").startswith(
            "Limits: 20-2000 samples"
        )

        change(chromium, page, "data", "spirals")
        wait(chromium, page, "playground.settings.data === 'spirals' && " + DRAWN)
        click(chromium, page, "add-layer")
        wait(chromium, page, "playground.settings.layers.length === 3 && " + DRAWN)
        wait(chromium, page, "playground.frame.neurons.length === 4")  # 3 hidden, the output
        before = chromium.evaluate(page, BOUNDARY)

        # A bad value gets a message in the page and changes nothing.
        change(chromium, page, "lr", "-1")
        message = wait(chromium, page, "document.querySelector('#message.error')?.textContent")
        assert "lr must be a number above 0 up to 10, got -1" in message
        assert chromium.evaluate(page, "document.getElementById('lr').value") == "0.03"

        click(chromium, page, "play")
        wait(chromium, page, "playground.frame.state === 'running'")
        counts = "[playground.total, playground.drawn]"
        start, before_counts = time.monotonic(), chromium.evaluate(page, counts)
        wait(chromium, page, "playground.frame.epochs >= 150", timeout=60)
        after_counts, elapsed = chromium.evaluate(page, counts), time.monotonic() - start
        received, drawn = (
            (b - a) / elapsed for a, b in zip(before_counts, after_counts, strict=True)
        )
        click(chromium, page, "pause")
        wait(chromium, page, "playground.frame.state === 'paused'")
        print(f"playground in Chromium: {received:.1f} frames a second received, {drawn:.1f} drawn")
        assert drawn >= 5  # tests/test_playground.py holds the server to 10 a second

        losses = chromium.evaluate(page, "playground.frame.curves.loss")
        assert len(losses) >= 150 and np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
        shown = chromium.evaluate(page, "document.getElementById('loss').textContent")
        assert float(shown) == pytest.approx(losses[-1], abs=1e-4)
        assert chromium.evaluate(page, BOUNDARY) != before
        epochs = chromium.evaluate(page, "playground.frame.epochs")

        # The model file, downloaded as a person would.
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        chromium.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
        click(chromium, page, "download-model")
        target = downloads / "playground-model.npz"
        deadline = time.monotonic() + 20
        while not target.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # the browser renames the file once it is complete
        model = scratchnn.load(target)
        assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [8, 8, 8, 1]

        # "Copy as Python", run: the same weights.
        click(chromium, page, "copy-python")
        code = wait(chromium, page, "document.getElementById('script').value")
        assert f"epochs={epochs}," in code and "make_spirals" in code
        folder = tmp_path / "script"
        folder.mkdir()
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            namespace: dict = {"__name__": "__main__"}
            exec(compile(code, "playground_script.py", "exec"), namespace)
        finally:
            os.chdir(cwd)
        np.testing.assert_array_equal(
            namespace["model"].get_flat_weights(), model.get_flat_weights()
        )

        assert only_local(chromium.requests(page), url) == []
        findings = chromium.evaluate(page, "document.getElementById('findings').textContent")
        assert findings.strip()

        folder = os.environ.get("SCRATCHNN_DOCS_SCREENSHOTS")
        folder = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        shot = chromium.send("Page.captureScreenshot", page, format="png")
        png = base64.b64decode(shot["data"])
        assert png.startswith(b"\x89PNG")
        (folder / "playground.png").write_bytes(png)
        print(f"playground screenshot: {folder / 'playground.png'}")
