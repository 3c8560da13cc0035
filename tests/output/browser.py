"""Headless chromium (Debian's ``chromium``, which .ci/run installs) on a report page:
the DOM it builds once the page's scripts ran, and screenshots at a given width.

Each call is its own browser process with its own empty profile (``--user-data-dir`` in a
temporary directory, removed afterwards) and no network of its own (no QUIC, no background
fetches, no component updates, no sync), so one page cannot see another's storage and a
run leaves nothing behind.

A full-page screenshot needs the page's height, which the command line cannot ask for.
We measure it: a copy of the page with one script appended (it writes
``document.documentElement.scrollHeight`` into an attribute) is dumped at the same width,
and the screenshot is then taken with a window that tall. The copy is only measured, never
tested: the page under test is loaded as it is. When the page's own Content-Security-Policy
refuses the measuring script, the window falls back to ``FALLBACK_HEIGHT``.

    python -m tests.output.browser PAGE.html OUT.png [WIDTH]     (a screenshot by hand)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bs4 import BeautifulSoup

TIMEOUT = 180.0  # seconds: a loaded 2-core machine starts chromium slowly
FALLBACK_HEIGHT = 4000
FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in CI, where chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
_MEASURE = (
    "<script>(function () { const d = document.documentElement;"
    " d.setAttribute('data-measured', d.scrollWidth + 'x' + d.scrollHeight); })()</script>"
)


class BrowserMissing(RuntimeError):
    """No chromium on PATH: the caller skips (tests) or says so (make screenshot)."""


class BrowserFailed(RuntimeError):
    """Chromium ran but did not do what it was asked: its exit status and stderr."""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing("chromium is not installed (Debian: apt-get install chromium)")


def _run(page: Path, width: int, height: int, *action: str) -> str:
    """Chromium on ``page`` in a window of ``width`` x ``height``: its stdout."""
    with tempfile.TemporaryDirectory(prefix="agentd-chromium-") as profile:
        argv = [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            *action,
            page.resolve().as_uri(),
        ]
        env = {**os.environ, "HOME": profile}  # nothing written to the caller's home
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BrowserFailed(f"chromium took more than {TIMEOUT:.0f}s on {page}") from exc
    if done.returncode != 0:
        raise BrowserFailed(f"chromium exited {done.returncode} on {page}:\n{done.stderr[-3000:]}")
    return done.stdout


def dump_dom(page: Path, width: int = 1280, height: int = 900) -> str:
    """The page's DOM as chromium serialises it after load, once its scripts ran."""
    text = _run(page, width, height, "--dump-dom")
    if "<html" not in text:
        raise BrowserFailed(f"chromium dumped no DOM for {page}: {text[:300]!r}")
    return text


def soup(page: Path, width: int = 1280) -> BeautifulSoup:
    """The dumped DOM, parsed, for CSS selectors (``.select``) and text."""
    return BeautifulSoup(dump_dom(page, width), "html.parser")


def page_size(page: Path, width: int) -> tuple[int, int] | None:
    """The page's full width and height in CSS pixels in a window ``width`` wide (a width
    above ``width`` means the page scrolls sideways); None when it cannot be measured
    (its Content-Security-Policy refuses our script)."""
    with tempfile.TemporaryDirectory(prefix="agentd-measure-") as tmp:
        copy = Path(tmp) / "measure.html"
        copy.write_text(page.read_text(encoding="utf-8") + _MEASURE, encoding="utf-8")
        found = re.search(r'data-measured="(\d+)x(\d+)"', dump_dom(copy, width))
    return (int(found.group(1)), int(found.group(2))) if found else None


def screenshot(page: Path, out: Path, width: int, max_height: int | None = None) -> int:
    """A PNG of the whole page at ``width`` (cut at ``max_height`` when given): the
    height it was taken at."""
    size = page_size(page, width)
    height = size[1] if size else FALLBACK_HEIGHT
    if max_height is not None:
        height = min(height, max_height)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    _run(page, width, height, f"--screenshot={out.resolve()}")
    if not out.exists() or out.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise BrowserFailed(f"chromium wrote no PNG at {out}")
    return height


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk, at a fixed place)."""
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        screenshot(Path(argv[0]), Path(argv[1]), int(argv[2]) if len(argv) == 3 else 1280)
    except (BrowserMissing, BrowserFailed) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
