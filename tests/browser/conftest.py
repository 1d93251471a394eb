"""Render HTML in headless Chromium and check that it rendered: :func:`check_rendered`.

The check drives Chromium through the DevTools protocol over ``--remote-debugging-pipe``
(JSON messages separated by NUL bytes on file descriptors 3 and 4), using only the standard
library: no websocket, no network port, no extra Python package. For one page it

1. opens the file (``file://``) in a fresh profile and waits for the ``load`` event;
2. waits until every ``<img>`` has decoded, then reads, for each image, ``complete`` and
   ``naturalWidth`` (a broken image has ``naturalWidth == 0``);
3. collects console errors (``console.error``/``assert``), uncaught exceptions, browser log
   errors (failed loads, Content-Security-Policy violations) and any request that is not
   ``file:``/``data:``/``about:`` (the report must be readable offline);
4. reads the text of every heading and compares it with the expected headings;
5. takes a full-page screenshot and checks it is a PNG that is not blank.

Any problem raises ``AssertionError`` listing all problems at once. If Chromium is not
installed the calling test is skipped, unless ``KETAMETA_REQUIRE_BROWSER=1`` (CI), in which
case it fails. Set ``KETAMETA_CHROMIUM`` to use a browser binary that is not on ``PATH``.

Import it from another test with ``from tests.browser.conftest import check_rendered``.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

__all__ = ["check_rendered", "find_chromium", "require_browser", "BrowserSession"]

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,900",
)


def find_chromium() -> str | None:
    """Path of the Chromium binary (``$KETAMETA_CHROMIUM`` or ``chromium`` on PATH), or None."""
    env = os.environ.get("KETAMETA_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_browser() -> str:
    """Return the Chromium path; skip the test without it (fail if KETAMETA_REQUIRE_BROWSER=1)."""
    path = find_chromium()
    if path is None:
        msg = (
            "Chromium not found on PATH (install Debian's `chromium` package, or set "
            "KETAMETA_CHROMIUM); the report rendering check needs a headless browser"
        )
        if os.environ.get("KETAMETA_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + " and KETAMETA_REQUIRE_BROWSER=1 requires it", pytrace=False)
        pytest.skip(msg)
    return path


class BrowserError(RuntimeError):
    """The browser did not answer as expected (crash, timeout, protocol error)."""


class BrowserSession:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (context manager).

    Parameters
    ----------
    chromium : str
        Browser binary.
    timeout : float
        Seconds allowed for each protocol reply / page load.
    """

    def __init__(self, chromium: str, timeout: float = 60.0) -> None:
        self.chromium = chromium
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buf = b""

    def __enter__(self) -> BrowserSession:
        self._tmp = tempfile.TemporaryDirectory(prefix="ketameta-browser-")
        tmp = Path(self._tmp.name)
        cmd_r, cmd_w = os.pipe()  # we write commands, the browser reads them on fd 3
        ev_r, ev_w = os.pipe()  # the browser writes replies/events on fd 4, we read them

        def _child_fds() -> None:  # runs in the child between fork and exec
            hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            hi_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD, 10)
            os.dup2(hi_r, 3)  # dup2 makes 3 and 4 inheritable
            os.dup2(hi_w, 4)

        self._log = open(tmp / "chromium.log", "wb")  # noqa: SIM115 - closed in __exit__
        args = [
            self.chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp / 'profile'}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        try:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                preexec_fn=_child_fds,  # noqa: PLW1509 - needed to place the pipe on fds 3 and 4
                close_fds=False,
            )
        except BaseException:
            for fd in (cmd_r, cmd_w, ev_r, ev_w):
                os.close(fd)
            self._log.close()
            self._tmp.cleanup()
            raise
        finally:
            if hasattr(self, "proc"):
                os.close(cmd_r)
                os.close(ev_w)
        self._w, self._r = cmd_w, ev_r
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=5)
                except Exception:  # noqa: BLE001 - best effort, then terminate
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()
                    try:
                        self.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
        finally:
            for fd in (self._w, self._r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._log.close()
            self._tmp.cleanup()

    def log_tail(self, n: int = 2000) -> str:
        """Last bytes of the browser's own stderr/stdout log."""
        try:
            self._log.flush()
            return (
                (Path(self._tmp.name) / "chromium.log").read_bytes()[-n:].decode("utf-8", "replace")
            )
        except OSError:
            return ""

    # ---- protocol ----------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("timed out waiting for the browser")
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise BrowserError(
                    f"the browser closed the pipe (exit code {self.proc.poll()})\n{self.log_tail()}"
                )
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one command and return its result (events received meanwhile are kept)."""
        self._next_id += 1
        mid = self._next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._w, data)
            data = data[n:]
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == mid:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(
        self, method: str, session: str | None = None, timeout: float | None = None, since: int = 0
    ) -> dict[str, Any]:
        """Wait for an event (looking first at events already received after index ``since``)."""
        for ev in self.events[since:]:
            if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                return ev
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            ev = self._read_message(deadline)
            if "method" in ev:
                self.events.append(ev)
                if ev["method"] == method and (session is None or ev.get("sessionId") == session):
                    return ev

    def evaluate(self, session: str, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page (promises awaited), return its value."""
        res = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
        )
        if "exceptionDetails" in res:
            raise BrowserError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")


_PAGE_STATE_JS = """
(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.decode().then(() => true, () => false)));
  const norm = s => s.replace(/\\s+/g, ' ').trim();
  return {
    title: document.title,
    images: imgs.map((i, n) => ({index: n, alt: i.alt, complete: i.complete,
                                 naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
                                 src: i.currentSrc.slice(0, 40)})),
    headings: Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6'))
                   .map(h => ({level: Number(h.tagName[1]), text: norm(h.textContent)})),
    width: Math.ceil(document.documentElement.scrollWidth),
    height: Math.ceil(document.documentElement.scrollHeight),
    layout: {
      viewport: window.innerWidth,
      page: {scrollWidth: document.documentElement.scrollWidth,
             clientWidth: document.documentElement.clientWidth},
      tables: Array.from(document.querySelectorAll('table')).map((t, n) => {
        const box = t.closest('.km-table') || t.parentElement;
        const sec = t.closest('section');
        return {index: n, id: (box && box.id) || (sec && sec.id) || '',
                scrollWidth: t.scrollWidth, clientWidth: t.clientWidth,
                right: Math.ceil(t.getBoundingClientRect().right),
                containerScrollWidth: box.scrollWidth, containerClientWidth: box.clientWidth};
      }),
    },
    text: document.body.innerText,
    visibleText: (() => {
      // every text node outside the provenance cells, separated so that cells never run together
      const out = [];
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        if (!n.parentElement.closest('.km-prov, style, script')) out.push(n.nodeValue);
      }
      return out.join(' ');
    })(),
  };
})()
"""

_LOCAL_SCHEMES = ("file:", "data:", "about:")


def _png_is_not_blank(png: bytes) -> bool:
    from matplotlib.image import imread

    img = imread(io.BytesIO(png), format="png")
    rgb = img[..., :3]
    # "not blank": more than 0.5% of pixels differ from the page background (top-left pixel)
    diff = (abs(rgb - rgb[0, 0]).sum(axis=-1) > 0.05).mean()
    return bool(diff > 0.005)


def check_rendered(
    html_path: str | os.PathLike[str],
    expected_headings: list[str] | tuple[str, ...] = (),
    *,
    screenshot: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    max_screenshot_height: int = 16000,
) -> dict[str, Any]:
    """Open an HTML file in headless Chromium and assert that it rendered completely.

    Parameters
    ----------
    html_path : path
        The page (e.g. ``results/report.html``).
    expected_headings : sequence of str
        Heading texts that must be present (a heading matches if its text equals the expected
        text or starts with it followed by a space, e.g. a "failed" badge).
    screenshot : path, optional
        Where to save the full-page PNG (default: a temporary file next to nothing, removed).
    timeout : float, default 60
        Seconds allowed for the browser to start, load the page and answer.
    max_screenshot_height : int, default 16000
        Cap on the screenshot height in CSS pixels (very long pages are cut).

    Returns
    -------
    dict
        ``images``, ``headings``, ``errors``, ``external_requests``, ``screenshot`` (path or
        None), ``elapsed`` (seconds), ``layout`` (measured at a 1280 px wide viewport:
        ``viewport``; ``page`` with the document element's ``scrollWidth`` and
        ``clientWidth``; ``tables``, per ``<table>``, its ``scrollWidth``, ``clientWidth``,
        right edge and its wrapper's ``containerScrollWidth``/``containerClientWidth``),
        ``text`` (the page's rendered text) and ``visible_text`` (the text outside elements of
        class ``km-prov``, the data-provenance cells).

    Raises
    ------
    AssertionError
        Listing every problem: broken images, missing headings, console errors, uncaught
        exceptions, failed or external loads, blank screenshot.
    """
    chromium = require_browser()
    html_path = Path(html_path).resolve()
    assert html_path.is_file(), f"no such file: {html_path}"
    t0 = time.monotonic()
    with BrowserSession(chromium, timeout=timeout) as b:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            b.send(f"{domain}.enable", {}, sid)
        b.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            sid,
        )
        mark = len(b.events)
        nav = b.send("Page.navigate", {"url": html_path.as_uri()}, sid)
        if nav.get("errorText"):
            raise AssertionError(f"navigation to {html_path} failed: {nav['errorText']}")
        b.wait_event("Page.loadEventFired", sid, since=mark)
        state = b.evaluate(sid, _PAGE_STATE_JS)
        height = min(max(int(state["height"]), 1), max_screenshot_height)
        width = max(int(state["width"]), 1)
        shot = b.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
            sid,
        )
        png = base64.b64decode(shot["data"])
        # let late console/log events arrive
        b.send("Runtime.evaluate", {"expression": "1"}, sid)
        events = [e for e in b.events if e.get("sessionId") in (sid, None)]
    elapsed = time.monotonic() - t0

    errors: list[str] = []
    external: list[str] = []
    for ev in events:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append(
                f"uncaught exception: {d.get('exception', {}).get('description') or d.get('text')}"
            )
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", [])
            )
            errors.append(f"console.{p['type']}: {args}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            errors.append(
                f"browser log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip()
            )
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            errors.append(f"failed load: {p.get('errorText')} ({p.get('type')})")
        elif m == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if not url.startswith(_LOCAL_SCHEMES):
                external.append(url)

    problems: list[str] = []
    broken = [i for i in state["images"] if not i["complete"] or i["naturalWidth"] <= 0]
    for i in broken:
        problems.append(f"image {i['index']} ({i['alt']!r}, {i['src']}...) did not load")
    texts = [h["text"] for h in state["headings"]]
    for exp in expected_headings:
        if not any(t == exp or t.startswith(exp + " ") for t in texts):
            problems.append(f"heading {exp!r} not found; headings are {texts}")
    problems += errors
    problems += [f"external request (the report must work offline): {u}" for u in external]
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        problems.append("the screenshot is not a PNG")
    elif not _png_is_not_blank(png):
        problems.append("the screenshot is blank")
    shot_path = None
    if screenshot is not None:
        shot_path = Path(screenshot)
        shot_path.parent.mkdir(parents=True, exist_ok=True)
        shot_path.write_bytes(png)
    result = {
        "images": state["images"],
        "headings": state["headings"],
        "errors": errors,
        "external_requests": external,
        "screenshot": shot_path,
        "elapsed": elapsed,
        "title": state["title"],
        "layout": state["layout"],
        "text": state["text"],
        "visible_text": state["visibleText"],
    }
    assert not problems, f"{html_path} did not render cleanly:\n  - " + "\n  - ".join(problems)
    return result
