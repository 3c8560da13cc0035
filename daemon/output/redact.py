"""The one way agentd keeps a secret out of text it shows: a task's quoted output in the
report, an alert channel's error detail.

Each caller knows which strings are secret (a project's secret-looking env values, a
webhook's path and headers); this module knows how to hide them. One mask for all of
them, the one ``agentd config show`` prints for a secret value, so that a reader learns
one sign; ``…`` would be ambiguous in an alert detail, where it already marks a cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agentd.config.secrets import MASK, is_secret_key

# Shorter fragments are not secrets, and replacing them would mangle ordinary text.
SHORTEST_SECRET = 4


def redact(text: str, secrets: Iterable[str], *, window: bool = False) -> str:
    """``text`` with every occurrence of each secret replaced by MASK.

    Longer secrets first, so that one holding another is hidden whole rather than around
    the shorter one. ``window``: the text is the end of a longer output, so it may begin
    inside a secret; a start that is the last SHORTEST_SECRET or more characters of one is
    masked too.
    """
    ordered = sorted({s for s in secrets if len(s) >= SHORTEST_SECRET}, key=len, reverse=True)
    for secret in ordered:
        text = text.replace(secret, MASK)
    if window:
        text = _mask_cut_start(text, ordered)
    return text


def _mask_cut_start(text: str, secrets: list[str]) -> str:
    longest = 0
    for secret in secrets:
        for cut in range(len(secret) - 1, SHORTEST_SECRET - 1, -1):
            if cut > longest and text.startswith(secret[-cut:]):
                longest = cut
                break
    return MASK + text[longest:] if longest else text


def env_secrets(env: Mapping[str, str]) -> list[str]:
    """The values of the variables whose names say they are secret (API_KEY, GH_TOKEN)."""
    return [value for key, value in env.items() if is_secret_key(key)]
