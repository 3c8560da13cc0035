"""The one secret redactor, as the report's output tail and the alert details use it."""

from __future__ import annotations

import pytest

from agentd.config.model import NotifySection
from agentd.config.secrets import MASK
from agentd.daemon.output.httppost import scrub
from agentd.daemon.output.redact import SHORTEST_SECRET, env_secrets, redact

TOKEN = "tok-ABCDEFGHIJ0123456789"


def test_every_occurrence_is_masked() -> None:
    assert redact(f"a {TOKEN} b {TOKEN}", [TOKEN]) == f"a {MASK} b {MASK}"


def test_a_secret_holding_another_is_masked_whole() -> None:
    inner = TOKEN[4:12]
    # Shorter first would leave "tok-" and the end of the token in the text.
    assert redact(f"x{TOKEN}y {inner}", [inner, TOKEN]) == f"x{MASK}y {MASK}"


def test_fragments_too_short_to_be_secrets_are_left_alone() -> None:
    short = "a" * (SHORTEST_SECRET - 1)
    assert redact(f"{short} and aaaa", [short, ""]) == f"{short} and aaaa"
    assert redact("abcd", ["abcd"]) == MASK


@pytest.mark.parametrize("cut", [SHORTEST_SECRET, 9, len(TOKEN) - 1])
def test_a_window_starting_inside_a_secret_masks_that_start(cut: int) -> None:
    text = TOKEN[-cut:] + " rest of the line"
    assert redact(text, [TOKEN], window=True) == MASK + " rest of the line"
    # Not a window: the start is ordinary text that happens to look like a secret's end.
    assert redact(text, [TOKEN]) == text


def test_a_window_start_shorter_than_a_secret_fragment_is_kept() -> None:
    text = TOKEN[-(SHORTEST_SECRET - 1) :] + " rest"
    assert redact(text, [TOKEN], window=True) == text


def test_the_longest_cut_start_wins() -> None:
    other = "zz" + TOKEN[-6:]
    text = TOKEN[-10:] + " rest"
    assert redact(text, [other, TOKEN], window=True) == MASK + " rest"


def test_env_secrets_are_the_values_of_secret_looking_keys() -> None:
    env = {"API_TOKEN": "t1", "DB_PASSWORD": "p1", "HOME": "/home/u", "gh_key": "k1"}
    assert sorted(env_secrets(env)) == ["k1", "p1", "t1"]


def test_alert_details_use_the_same_mask() -> None:
    notify = NotifySection(
        webhook="https://hooks.example.com/services/SECRETPATH?token=SECRETQUERY",
        headers={"Authorization": "Bearer SECRETHEADER"},
    )
    detail = (
        "HTTP 404 from https://hooks.example.com: no route /services/SECRETPATH"
        " for Bearer SECRETHEADER"
    )
    assert scrub(detail, notify.webhook, notify.headers.values()) == (
        f"HTTP 404 from https://hooks.example.com: no route {MASK} for {MASK}"
    )
