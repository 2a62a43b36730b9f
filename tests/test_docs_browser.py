"""The documentation site, built and opened in a real browser with no network.

The site is built once per session (``mkdocs build``) and served from ``127.0.0.1``;
headless Chromium (Debian's ``chromium`` package) opens every page that has math and is driven
through the DevTools protocol over a pipe (no extra package). Host names do not resolve in that
browser, and every request it makes is logged: all must go to the local server. From the rendered
DOM, every formula must have become MathJax output without a TeX error, and no raw ``\\(``,
``\\[`` or ``$$`` may be left in the visible text. One screenshot (``how/cross-entropy``) is
written for a person to look at, to ``$SCRATCHNN_DOCS_SCREENSHOTS`` (``.ci/run`` sets it to a
temporary folder) or to pytest's temporary folder. The learning path's pages are also opened to
check that each picture loads, that each folded note (an exercise's solution, an engineering
aside) starts closed and opens on a click, and that the page's notebook downloads.

Where no Chromium is installed these tests skip, except in CI (``CI`` set), where they fail.
Static checks (every formula in the Markdown reached MathJax's markup; nothing loads from
another host) run without a browser.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import http.server
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real browser: left out of the quick run (-m "not slow")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCREENSHOT_PAGE = "how/cross-entropy"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--disable-dev-shm-usage",
    # No network: no host name resolves, only the local server's address is reachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
CODE = re.compile(r"^ *(`{3,}|~{3,}).*?^ *\1 *$|`[^`\n]*`", re.DOTALL | re.MULTILINE)
MATH_OPENERS = re.compile(r"\\\(|\\\[")
RAW_DELIMITERS = ("\\(", "\\)", "\\[", "\\]", "$$")


def math_in_source(page: Path) -> int:
    """How many formulas (``\\(`` or ``\\[`` openers) a page's Markdown has outside code."""
    return len(MATH_OPENERS.findall(CODE.sub("", page.read_text(encoding="utf-8"))))


MATH_PAGES = {
    page.relative_to(DOCS).with_suffix("").as_posix(): math_in_source(page)
    for page in sorted(DOCS.rglob("*.md"))
    if math_in_source(page)
}


DOLLAR_MATH = re.compile(r"\$\$|\$[^$\n]*\\[A-Za-z][^$\n]*\$")


def test_math_is_written_one_way():
    # $ and $$ are not math on this site (mkdocs.yml): such a formula would show as typed.
    pages = sorted(DOCS.rglob("*.md"))
    texts = {page.relative_to(DOCS).as_posix(): CODE.sub("", page.read_text()) for page in pages}
    assert [name for name, text in texts.items() if DOLLAR_MATH.search(text)] == []
    assert DOLLAR_MATH.search(r"the tanh form: $\frac{z}{2}$") and DOLLAR_MATH.search("$$x$$")
    assert not DOLLAR_MATH.search("costs $5, or $6 with tax")


def test_math_pages_are_found():
    assert {"how/dense", "how/cross-entropy", "gradcheck"} <= set(MATH_PAGES)
    assert sum(MATH_PAGES.values()) > 200


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The documentation built once per session.

    Not strictly: a broken link elsewhere is for ``.ci/run``'s strict build to report, and should
    not hide how the formulas render.
    """
    pytest.importorskip("mkdocs")
    target = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--no-strict", "--site-dir", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stderr[-4000:]
    return target


def page_html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


def arithmatex_count(html: str) -> int:
    return len(re.findall(r'<(?:span|div) class="arithmatex">', html))


@pytest.mark.parametrize("page", sorted(MATH_PAGES))
def test_every_formula_in_the_markdown_reaches_mathjax(site, page):
    # A display formula glued to its paragraph loses its backslash to Markdown and is printed
    # as "[ ... ]": it then never gets the markup MathJax looks for.
    found = arithmatex_count(page_html(site, page))
    assert found == MATH_PAGES[page], (
        f"docs/{page}.md has {MATH_PAGES[page]} formulas, {found} reached MathJax: is a \\[ ... \\]"
        " glued to its paragraph (no blank line before or after)?"
    )


EXTERNAL = re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)="(?:https?:)?//')


def test_no_page_loads_anything_from_another_host(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    offenders = [p.relative_to(site).as_posix() for p in pages if EXTERNAL.search(p.read_text())]
    assert offenders == []
    assert (site / "js/mathjax/tex-mml-chtml.js").is_file()
    assert (site / "js/mathjax/output/chtml/fonts/woff-v2").is_dir()
    assert (site / "search/search_index.json").is_file()


# --- the browser -----------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def server(site):
    """The built site served on 127.0.0.1; yields its base URL."""
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class Chromium:
    """Headless Chromium driven by the DevTools protocol over ``--remote-debugging-pipe``."""

    def __init__(self, executable: str, profile: Path) -> None:
        commands_in, self._commands = os.pipe()
        self._replies, replies_out = os.pipe()
        # The browser reads commands on fd 3 and writes replies to fd 4: a shell moves the pipe
        # ends there (from numbers of 10 and up, so the two moves cannot overwrite each other; dash
        # reads only one-digit numbers, hence bash).
        ends = [fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10) for end in (commands_in, replies_out)]
        command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        move = f'exec "$@" 3<&{ends[0]} 4>&{ends[1]} {ends[0]}<&- {ends[1]}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", move, "bash", *command, "--remote-debugging-pipe"],
            pass_fds=ends,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for end in (commands_in, replies_out, *ends):
            os.close(end)
        self._next_id = 0
        self._messages: queue.Queue[dict | None] = queue.Queue()
        self._events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._replies, "rb", buffering=0) as replies:
            while chunk := replies.read(65536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._messages.put(json.loads(message))
        self._messages.put(None)

    def send(self, method: str, session: str | None = None, timeout: float = 30, **params):
        """Send one command and wait for its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._messages.get(timeout=timeout)
            if reply is None:
                raise RuntimeError(f"the browser closed its pipe during {method}")
            if reply.get("id") != self._next_id:
                self._events.append(reply)
            elif "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            else:
                return reply["result"]

    def wait_for(self, method: str, session: str, timeout: float = 30) -> dict:
        """The first event ``method`` of ``session`` not seen yet."""
        while True:
            for event in self._events:
                if event.get("method") == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event
            reply = self._messages.get(timeout=timeout)
            if reply is None:
                raise RuntimeError(f"the browser closed its pipe waiting for {method}")
            self._events.append(reply)

    def requests(self, session: str) -> list[str]:
        """The URLs that ``session``'s page asked for, so far."""
        return [
            event["params"]["request"]["url"]
            for event in self._events
            if event.get("method") == "Network.requestWillBeSent"
            and event.get("sessionId") == session
        ]

    def open(self, url: str, width: int = 1280, height: int = 900) -> str:
        """A new tab showing ``url`` once loaded; returns its session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Network.enable", session)
        self.send("Page.enable", session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str, timeout: float = 30):
        result = self.send(
            "Runtime.evaluate",
            session,
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    executable = next(filter(None, map(shutil.which, BROWSERS)), None)
    if executable is None:
        message = "no Chromium: apt-get install chromium (Debian) to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; in CI they must run")
        pytest.skip(message)
    chromium = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


# Runs in the page once MathJax is done: each formula's fate, and the text a reader sees.
REPORT = """
(async () => {
  await MathJax.startup.promise;
  await document.fonts.ready;
  const formulas = [...document.querySelectorAll(".arithmatex")].map((node) => {
    const output = node.querySelectorAll("mjx-container");
    const mathml = node.querySelector("mjx-assistive-mml math");
    return {
      display: node.tagName === "DIV",
      outputs: output.length,
      displayed: output.length === 1 && output[0].getAttribute("display") === "true",
      width: node.getBoundingClientRect().width,
      errors: node.querySelectorAll("mjx-merror, [data-mjx-error], merror").length,
      mathml: mathml ? mathml.textContent : null,
    };
  });
  const skip = "pre, code, script, style, noscript, textarea";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const text = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest(skip) && parent.checkVisibility()) {
      text.push(walker.currentNode.textContent);
    }
  }
  const fonts = [...document.fonts].filter((f) => f.family.startsWith("MJXTEX"));
  return {
    formulas,
    text: text.join(" "),
    fontsLoaded: fonts.filter((f) => f.status === "loaded").length,
    fontsFailed: fonts.filter((f) => f.status === "error").length,
  };
})()
"""


def only_local(urls: list[str], base: str) -> list[str]:
    """The requests that left the local server (data and blob URLs stay in the page)."""
    return [url for url in urls if not url.startswith((base, "data:", "blob:"))]


@pytest.mark.parametrize("page", sorted(MATH_PAGES))
def test_every_formula_renders_offline_in_chromium(page, site, server, browser, tmp_path_factory):
    session = browser.open(server + page + "/")
    report = browser.evaluate(session, REPORT)
    formulas = report["formulas"]

    assert len(formulas) == arithmatex_count(page_html(site, page)) == MATH_PAGES[page]
    for number, formula in enumerate(formulas, 1):
        where = f"{page}: formula {number} of {len(formulas)}"
        assert formula["outputs"] == 1, f"{where} was not typeset"
        assert formula["displayed"] == formula["display"], f"{where}: display mode"
        assert formula["width"] > 0, f"{where} takes no space"
        assert formula["errors"] == 0, f"{where} has a TeX error"
        assert formula["mathml"] and "\\" not in formula["mathml"], f"{where}: {formula['mathml']}"
    left = [raw for raw in RAW_DELIMITERS if raw in report["text"]]
    assert left == [], f"{page} shows raw TeX delimiters"
    assert report["fontsLoaded"] > 0 and report["fontsFailed"] == 0
    assert only_local(browser.requests(session), server) == []

    if page == SCREENSHOT_PAGE:
        folder = os.environ.get("SCRATCHNN_DOCS_SCREENSHOTS")
        folder = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        size = browser.send("Page.getLayoutMetrics", session)["cssContentSize"]
        whole = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = browser.send(
            "Page.captureScreenshot", session, format="png", clip=whole, captureBeyondViewport=True
        )
        png = base64.b64decode(shot["data"])
        assert png.startswith(b"\x89PNG")
        (folder / (page.replace("/", "-") + ".png")).write_bytes(png)


def test_search_and_navigation_work_offline(server, browser):
    session = browser.open(server)
    found = browser.evaluate(
        session,
        """
(async () => {
  const input = document.querySelector(".md-search__input");
  input.focus();
  input.value = "softmax";
  for (const kind of ["focus", "input", "keyup"]) input.dispatchEvent(new Event(kind));
  for (let wait = 0; wait < 100; wait++) {
    const hits = [...document.querySelectorAll(".md-search-result__item a")];
    if (hits.length) return hits.map((a) => a.href);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return [];
})()
""",
    )
    assert any("/how/activations/" in url for url in found), found
    nav = "[...document.querySelectorAll('.md-nav a')].map((link) => link.href)"
    links = browser.evaluate(session, nav)
    local = {url.split("#")[0] for url in links}
    assert len(local) > 20 and all(url.startswith(server) for url in local)
    for url in sorted(local):
        with urllib.request.urlopen(url) as reply:
            assert reply.status == 200, url
    assert only_local(browser.requests(session), server) == []


PATH_PAGES = [
    "foundations",
    "tutorial",
    "how/dense",
    "how/backprop",
    "how/activations",
    "how/optimizers",
    "mistakes",
    "how/convolution",
    "guides/digits-cnn",
]

# Runs in the page: every picture decoded, and every folded note (solutions, engineering asides)
# closed until its summary is clicked, then shown.
FIGURES_AND_SOLUTIONS = """
(async () => {
  const images = [...document.querySelectorAll("article img")];
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const details = [...document.querySelectorAll("article details")];
  const closed = details.filter((d) => !d.open).length;
  let opened = 0;
  for (const d of details) {
    d.querySelector("summary").click();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const body = d.querySelector("summary ~ *");  // a solution's text or code
    if (d.open && body && body.getBoundingClientRect().height > 0) opened++;
  }
  const link = document.querySelector("p.notebook-link a");
  let notebook = null;
  if (link) {
    const reply = await fetch(link.href);
    notebook = reply.ok ? (await reply.json()).cells.length : -reply.status;
  }
  return {
    notebook,
    images: images.map((img) => [img.getAttribute("src"), img.naturalWidth]),
    details: details.length,
    closed,
    opened,
  };
})()
"""


@pytest.mark.parametrize("page", PATH_PAGES)
def test_path_pages_show_their_figures_and_fold_their_solutions(page, server, browser):
    session = browser.open(server + page + "/")
    report = browser.evaluate(session, FIGURES_AND_SOLUTIONS)
    broken = [src for src, width in report["images"] if not width]
    assert broken == [], f"{page}: pictures that did not load: {broken}"
    assert report["closed"] == report["details"], f"{page}: a solution is shown unfolded"
    assert report["opened"] == report["details"], f"{page}: a solution did not open on a click"
    if page.startswith(("how/", "foundations")) and page != "how/convolution":
        assert report["details"] >= 1, f"{page} has no folded solution"
    if page in ("foundations", "how/backprop", "how/activations", "guides/digits-cnn"):
        assert report["images"], f"{page} shows no figure"
    assert report["notebook"] and report["notebook"] > 0, f"{page}: no notebook to download"
    assert only_local(browser.requests(session), server) == []
