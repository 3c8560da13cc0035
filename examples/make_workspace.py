"""Create the demo's projects under examples/workspace/ (idempotent; state is kept)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent / "workspace"

APP = """def add(a, b):
    return a + b
"""

TEST = """import time
import unittest

from app import add


class AddTest(unittest.TestCase):
    def test_add(self):
        time.sleep({delay})  # a test suite that takes a moment, like real ones
        self.assertEqual(add(2, 2), {expected})


if __name__ == "__main__":
    unittest.main()
"""

PROJECTS = {
    "api": (1.0, 4),
    "web": (1.5, 4),
    "worker": (0.5, 4),
    "docs": (0.1, 4),
    "legacy": (1.0, 5),  # the failing one
    "mobile": (0.1, 4),
}


def main() -> None:
    for name, (delay, expected) in PROJECTS.items():
        project = ROOT / name
        project.mkdir(parents=True, exist_ok=True)
        (project / "app.py").write_text(APP)
        (project / "test_app.py").write_text(TEST.format(delay=delay, expected=expected))
    print(f"demo projects ready in {ROOT}")


if __name__ == "__main__":
    main()
