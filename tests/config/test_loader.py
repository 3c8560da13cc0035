"""How the environment's overrides and the file's sections are merged before validation.

agentd once left this to pydantic-settings and now does it itself (config.loader), so
these pin what files and environments written for the old loader rely on.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agentd.config import Config, ConfigError, load_config


def _load(tmp_path: Path, text: str, **environ: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, environ)


def test_an_override_changes_one_key_and_keeps_the_rest_of_the_files_table(
    tmp_path: Path,
) -> None:
    config = _load(
        tmp_path,
        """
        [run]
        project_parallelism = true
        max_parallel_projects = 2
        keep_runs = 9
        """,
        AGENTD_RUN__MAX_PARALLEL_PROJECTS="7",
    )
    run = config.settings.run
    assert (run.project_parallelism, run.max_parallel_projects, run.keep_runs) == (True, 7, 9)


def test_an_override_is_typed_as_its_key_and_adds_a_table_the_file_lacks(
    tmp_path: Path,
) -> None:
    config = _load(tmp_path, "", AGENTD_RUN__PROJECT_PARALLELISM="yes", AGENTD_LOG__LEVEL="debug")
    settings = config.settings
    assert settings.run.project_parallelism is True
    assert settings.log.level == "debug"


def test_an_override_replaces_a_value_that_is_not_a_table(tmp_path: Path) -> None:
    config = _load(tmp_path, "run = 5\n", AGENTD_RUN__KEEP_RUNS="3")
    assert config.settings.run.keep_runs == 3


def test_section_names_match_without_regard_to_case(tmp_path: Path) -> None:
    config = _load(tmp_path, "[RUN]\nkeep_runs = 4\n")
    assert config.settings.run.keep_runs == 4


def test_of_two_spellings_of_a_section_the_first_in_the_file_is_taken(tmp_path: Path) -> None:
    config = _load(tmp_path, "[Run]\nkeep_runs = 4\n[run]\nkeep_runs = 0\n")
    assert config.settings.run.keep_runs == 4
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "[run]\nkeep_runs = 0\n[Run]\nkeep_runs = 4\n")
    assert [str(p) for p in caught.value.problems] == [
        "run.keep_runs: must be at least 1, got integer 0"
    ]


def test_a_key_that_is_no_section_in_any_case_is_refused_as_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "Rnu = 1\n")
    (problem,) = caught.value.problems
    assert problem.place == "Rnu"
    assert problem.message.startswith("unknown key 'Rnu'")
