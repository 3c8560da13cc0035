"""The mutants of `make mutants` still fit the code: a refactor that moves or rewrites a
line a mutant quotes must move the mutant with it, or the promise goes unchecked."""

from __future__ import annotations

import re

import pytest

from tests.mutants import MUTANTS, ROOT, Mutant


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.id)
def test_each_mutant_applies_once_and_names_tests_that_exist(mutant: Mutant) -> None:
    for name, old, new in mutant.edits:
        text = (ROOT / name).read_text()
        assert text.count(old) == 1, f"{name} holds the quoted text {text.count(old)} times"
        assert old != new
    for test in mutant.tests:
        path, _, function = test.partition("::")
        source = (ROOT / path).read_text()
        if function:
            base = function.split("[")[0]
            pattern = rf"^def {re.escape(base)}" if not base.endswith("_") else rf"^def {base}"
            assert re.search(pattern, source, re.MULTILINE), f"{test} names no test"
