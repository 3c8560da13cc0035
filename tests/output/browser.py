"""Headless chromium (Debian's ``chromium``, which .ci/run installs) on a report page: the
DOM it built once the page's scripts ran, what the page tried to do, and screenshots.

Driven by Playwright (a dev dependency from PyPI) over the DevTools protocol, with
Debian's browser as its executable: Playwright downloads no browser of its own here. A
driver rather than ``chromium --screenshot``/``--dump-dom``, for three things the command
line cannot do: a window narrower than 500 px (headless chromium widens any smaller window
to 500, so a 390 px phone could not be tried), a full-page screenshot (its height known
only once the page is laid out), and watching the page (every request it makes, every
dialog it opens, every script error).

Each call is its own browser process with its own temporary profile (Playwright's
``--user-data-dir``, removed afterwards) and no network of its own (no QUIC, no background
fetches, no component updates, no sync), so one page cannot see another's storage.

    python -m tests.output.browser PAGE.html OUT.png [WIDTH]     (a screenshot by hand)
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

TIMEOUT_MS = 180_000  # a loaded 2-core machine starts chromium slowly
PHONE = 390
FLAGS = [
    "--no-sandbox",  # we run as root in CI, where chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


class BrowserMissing(RuntimeError):
    """No chromium on PATH, or no Playwright: the caller skips (tests) or says so."""


@dataclass
class Loaded:
    """A page as the browser left it once loaded and its scripts ran."""

    dom: str  # the document serialised (as ``--dump-dom`` prints it)
    title: str  # document.title after the scripts ran
    width: int  # the document's full width in CSS px: above the window's, it scrolls sideways
    height: int  # and full height
    requests: list[str] = field(default_factory=list)  # every URL it asked for
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt it opened
    errors: list[str] = field(default_factory=list)  # uncaught script errors
    probed: Any = None  # what ``probe`` returned: the layout as the reader sees it

    def soup(self) -> BeautifulSoup:
        return BeautifulSoup(self.dom, "html.parser")


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing("chromium is not installed (Debian: apt-get install chromium)")


def load(
    page: Path,
    width: int = 1280,
    *,
    screenshot: Path | None = None,
    max_height: int | None = None,
    probe: str | None = None,
) -> Loaded:
    """``page`` in a window ``width`` CSS px wide (a phone's, with touch and the viewport
    meta honoured, at ``PHONE`` px or less); with ``screenshot``, a PNG of the whole page
    there (cut at ``max_height`` px when given); with ``probe``, a JavaScript expression
    evaluated in the laid-out page (where boxes are, what scrolled), its value in
    ``probed``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserMissing(f"playwright is not installed ({exc})") from exc
    executable = chromium()
    phone = width <= PHONE
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=FLAGS, timeout=TIMEOUT_MS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": 844 if phone else 900},
                is_mobile=phone,
                has_touch=phone,
                device_scale_factor=1,
            )
            tab = context.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            seen = Loaded("", "", 0, 0)
            tab.on("request", lambda request: seen.requests.append(request.url))
            tab.on("pageerror", lambda error: seen.errors.append(str(error)))
            tab.on("dialog", lambda dialog: _dismissed(dialog, seen))
            tab.goto(page.resolve().as_uri(), wait_until="load")
            size: list[int] = tab.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            seen.width, seen.height = size
            seen.title = tab.title()
            if probe is not None:
                seen.probed = tab.evaluate(probe)
            seen.dom = tab.content()
            if screenshot is not None:
                _shoot(tab, screenshot, seen, max_height)
        finally:
            browser.close()
    return seen


def _dismissed(dialog: Any, seen: Loaded) -> None:
    seen.dialogs.append(f"{dialog.type}: {dialog.message}")
    dialog.dismiss()


def _shoot(tab: Any, out: Path, seen: Loaded, max_height: int | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if max_height is not None and seen.height > max_height:
        tab.set_viewport_size({"width": tab.viewport_size["width"], "height": max_height})
        tab.screenshot(path=str(out), full_page=False)
    else:
        tab.screenshot(path=str(out), full_page=True)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk, at a fixed place)."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        load(Path(argv[0]), int(argv[2]) if len(argv) == 3 else 1280, screenshot=Path(argv[1]))
    except BrowserMissing as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
