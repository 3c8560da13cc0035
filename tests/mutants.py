"""Mutants: for each promise of RELIABILITY.md, a change to the product that breaks it, and
the tests that must then fail. A promise whose test passes on its mutant is not a promise.

    python tests/mutants.py [--only ID ...] [--list]        (or: make mutants)

Each mutant is applied to a fresh copy of the committed tree (``git archive HEAD``), and
its tests run there with ``PYTHONPATH`` pointing at the copy, so the test process and
every ``agentd`` it starts import the mutated code. The mutant is *caught* when the tests
fail; the table printed at the end is what RELIABILITY.md quotes. The tests of a mutant
are also run once on the unmutated copy: a test that fails there proves nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    id: str
    promise: str  # the RELIABILITY.md row it breaks
    where: str  # file::function, for people
    edits: tuple[tuple[str, str, str], ...]  # (file, exact text, replacement)
    tests: tuple[str, ...]


def m(
    id: str, promise: str, where: str, tests: tuple[str, ...], *edits: tuple[str, str, str]
) -> Mutant:
    return Mutant(id, promise, where, edits, tests)


K = "tests/faults/test_kill.py::"
E = "tests/faults/test_edges.py::"
MUTANTS = [
    m(
        "killmode-process",
        "agentd SIGKILLed under systemd: its tasks go with it",
        "systemd/agentd.service KillMode=process",
        ("tests/service/test_systemd.py::test_the_system_unit_under_a_real_systemd",),
        ("systemd/agentd.service", "KillMode=mixed", "KillMode=process"),
    ),
    m(
        "alert-fails-the-sweep",
        "A failing alert never changes the sweep's status",
        "daemon/output/alerts.py::AlertSender lets a failed alert fail the sweep",
        ("tests/agents/test_agents.py::test_failing_alert_never_fails_the_sweep",),
        (
            "daemon/output/alerts.py",
            '        report.alerts = [AlertResult(a["via"], a["ok"], a["detail"]) for a in sent]\n',
            '        report.alerts = [AlertResult(a["via"], a["ok"], a["detail"]) for a in sent]\n        if not all(a["ok"] for a in sent):\n            report.status = "failed"\n',
        ),
    ),
    m(
        "branch-with-commits-deleted",
        "An agent's commits in its worktree are never deleted",
        "daemon/tasks/gitrepo.py::finish_worktree deletes a branch with commits",
        ("tests/tasks/test_gitrepo.py::test_commits_keep_the_branch_and_remove_the_worktree",),
        ("daemon/tasks/gitrepo.py", "        if commits:\n", "        if False:\n"),
    ),
    m(
        "signal-wakeup-off",
        "A signal that lands on another thread still wakes the daemon",
        "daemon/tasks/stop.py::install_handlers without set_wakeup_fd",
        (
            "tests/faults/test_signals.py::test_sigterm_right_after_sighup",
            "tests/faults/test_signals.py::test_a_sighup_storm_during_a_sweep",
        ),
        (
            "daemon/tasks/stop.py",
            "    signal.set_wakeup_fd(token.wakeup_fileno(), warn_on_full_buffer=False)",
            "    pass",
        ),
    ),
    m(
        "shell-for-commands",
        "No shell where none was asked for",
        "daemon/tasks/taskcmd.py::task_argv runs commands through /bin/sh",
        ("tests/faults/test_security.py::test_no_shell_unless_asked",),
        (
            "daemon/tasks/taskcmd.py",
            "        return [substitute(part, values) for part in spec.command]",
            '        return ["/bin/sh", "-c", " ".join(substitute(p, values) for p in spec.command)]',
        ),
    ),
    m(
        "placeholders-twice",
        "Placeholders are substituted in one pass, never re-expanded",
        "daemon/tasks/taskcmd.py::substitute runs twice",
        ("tests/tasks/test_tasks_and_files.py::test_a_substituted_value_is_never_expanded_again",),
        (
            "daemon/tasks/taskcmd.py",
            "    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)",
            "    once = PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)\n"
            "    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), once)",
        ),
    ),
    m(
        "open-directories",
        "Private files and directories under a permissive umask",
        "state/files.py: directories made 0777",
        ("tests/faults/test_security.py::test_files_are_private_under_a_permissive_umask",),
        ("state/files.py", "DIR_MODE = 0o700", "DIR_MODE = 0o777"),
    ),
    m(
        "symlinked-runs-followed",
        "A symlinked runs/ is refused",
        "daemon/sweep/rundirs.py::open_run follows a symlinked runs/",
        ("tests/faults/test_security.py::test_a_symlinked_runs_directory_is_refused",),
        (
            "daemon/sweep/rundirs.py",
            "        if runs_dir(state_dir).is_symlink():",
            "        if False:",
        ),
    ),
    m(
        "notify-socket-to-tasks",
        "No task can notify systemd in agentd's name",
        "daemon/service/notify.py keeps NOTIFY_SOCKET, daemon/tasks/taskcmd.py passes it on",
        ("tests/service/test_daemon.py::test_systemd_notifications",),
        (
            "daemon/service/notify.py",
            '        self.address = environ.pop("NOTIFY_SOCKET", None)',
            '        self.address = environ.get("NOTIFY_SOCKET")',
        ),
        (
            "daemon/tasks/taskcmd.py",
            "    env = {k: v for k, v in base.items() if k not in STRIPPED_ENV and not _is_state_url(k)}",
            "    env = dict(base)",
        ),
        (
            "daemon/tasks/taskcmd.py",
            "        if k not in STRIPPED_ENV and not _is_state_url(k) and not (postgres and k in LIBPQ_SECRETS)",
            "        if not _is_state_url(k) and not (postgres and k in LIBPQ_SECRETS)",
        ),
    ),
    m(
        "skip-guard-off",
        "SIGKILL at any point: nothing that succeeded runs again",
        "state/base.py::is_done always False",
        (K + "test_sigkill_at_any_point_then_the_next_sweep_runs_exactly_what_is_left",),
        (
            "state/base.py",
            '    return task is not None and task.get("status") == "ok" and task.get("date") == date',
            "    return False",
        ),
    ),
    m(
        "state-written-in-place",
        "SIGKILL while the state is written: never torn",
        "state/files.py::write_atomic writes the file in place",
        (
            K + "test_sigkill_during_state_writes_never_leaves_a_torn_file",
            "tests/state/test_store.py::"
            "test_concurrent_writers_lose_nothing_and_readers_never_see_a_torn_file",
        ),
        (
            "state/files.py",
            '    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")',
            "    tmp = str(path)\n    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)",
        ),
        ("state/files.py", "        os.replace(tmp, path)\n", ""),
    ),
    m(
        "orphans-left",
        "A task orphaned by a SIGKILLed agentd is stopped before its project runs again",
        "daemon/tasks/orphans.py::stop_orphans finds nothing",
        (K + "test_an_orphaned_task_is_stopped_before_its_project_runs_again",),
        (
            "daemon/tasks/orphans.py",
            "    found = find(run_id, project)\n    if not found:",
            "    found = []\n    if not found:",
        ),
    ),
    m(
        "local-claims-by-heartbeat",
        "A suspended sweep keeps its claims on this host",
        "state/claims.py::why_stale uses the heartbeat on this host too",
        (
            "tests/state/test_contract.py::"
            "test_a_live_process_on_this_host_keeps_its_claim_however_old_its_heartbeat[json]",
        ),
        ("state/claims.py", "    if holder.host == host:\n", "    if False:\n"),
    ),
    m(
        "claim-without-skip-guard",
        "Many sweepers: every task runs once",
        "state/rules.py::claim_answer does not re-read the skip guard (both stores)",
        (
            "tests/state/test_contract.py::test_claim_rereads_the_skip_guard[json]",
            "tests/faults/test_concurrency.py::test_five_sweepers_run_every_task_exactly_once",
        ),
        (
            "state/rules.py",
            "frozenset() if force else frozenset(t for t in tasks if is_done(known.get(t), date))",
            "frozenset()",
        ),
    ),
    m(
        "tail-in-memory",
        "A task floods its output: agentd's memory stays flat",
        "daemon/tasks/tasklog.py: a cut log's tail held whole in memory",
        ("tests/faults/test_flood.py::test_output_past_max_log_size_keeps_the_head_and_the_tail",),
        ("daemon/tasks/tasklog.py", "TAIL_MAX = 256 * 1024", "TAIL_MAX = 1024**3"),
    ),
    m(
        "no-log-cap",
        "A task prints gigabytes: its log stops at max_log_size",
        "daemon/tasks/tasklog.py::LogSink.pump never stops writing the log",
        ("tests/faults/test_flood.py::test_output_past_max_log_size_keeps_the_head_and_the_tail",),
        (
            "daemon/tasks/tasklog.py",
            "            room = 0 if self.failure else self.head_room - self.written",
            "            room = 0 if self.failure else CHUNK",
        ),
    ),
    m(
        "no-group-kill",
        "Hostile tasks: what a task leaves in its group is killed",
        "daemon/tasks/runner.py::_watch without the final SIGKILL to the group",
        (
            "tests/sweep/test_failures.py::test_the_group_kill_alone_stops_what_a_finished_task_left_in_its_group",
        ),
        (
            "daemon/tasks/runner.py",
            "        _kill_group(proc.pid, signal.SIGKILL)\n        if status is not None:",
            "        if status is not None:",
        ),
    ),
    m(
        "config-any-failure",
        "Fuzzed configuration: any file is a configuration error, never a crash",
        "config/loader.py::load_config without its handlers of last resort",
        (
            "tests/faults/test_config_fuzz.py::test_mutated_configs_load_or_fail_with_placed_problems",
        ),
        ("config/loader.py", "    except RecursionError:\n", "    except ArithmeticError:\n"),
        (
            "config/loader.py",
            "    except Exception as exc:  # noqa: BLE001 - a bad file is exit 2, never a crash",
            "    except ArithmeticError as exc:",
        ),
    ),
    m(
        "bad-state-accepted",
        "Bad state: refused, exit 2, left byte for byte",
        "state/document.py::parse_document skips the shape checks",
        (
            "tests/faults/test_bad_state.py::test_bad_state_files_stop_every_command_and_stay_as_they_are",
        ),
        ("state/document.py", "    check_document(doc, path)\n    return doc", "    return doc"),
    ),
    m(
        "journal-replayed-over-an-edit",
        "The journal is never replayed over a hand edit",
        "state/journal.py::Journal._read skips the digest check",
        ("tests/state/test_journal.py::test_editing_state_json_by_hand",),
        (
            "state/journal.py",
            '        if from_start and header.get("snapshot") not in (None, loaded.digest):',
            "        if False:",
        ),
    ),
    m(
        "no-write-probe",
        "A read-only state directory: exit 2 before any task runs",
        "daemon/cli/setup.py::_make_state_dir without the write probe",
        ("tests/faults/test_bad_state.py::test_a_read_only_state_directory",),
        (
            "daemon/cli/setup.py",
            '        tempfile.TemporaryFile(dir=directory, prefix=".probe.").close()',
            "        pass",
        ),
    ),
    m(
        "disk-full-log-not-a-failure",
        "A full disk: a log it could not hold is a failure of the sweep",
        "daemon/sweep/task.py::_launch does not report an incomplete log",
        ("tests/faults/test_disk_full.py::test_disk_full_during_a_sweep",),
        (
            "daemon/sweep/task.py",
            "    if cut is not None and cut.lost and result.status not in TASK_FAILURES:",
            "    if False:",
        ),
    ),
    m(
        "retention-after-history",
        "A full disk clears itself: retention first, needing no write",
        "daemon/sweep/engine.py::_open_run does not prune",
        ("tests/faults/test_disk_full.py::test_a_full_disk_clears_itself_by_retention",),
        (
            "daemon/sweep/engine.py",
            "    deleted = rundirs.prune(state_dir, keep - 1)",
            "    deleted: list[str] = []",
        ),
    ),
    m(
        "live-run-pruned",
        "Retention never takes the directory of a live sweep",
        "daemon/sweep/rundirs.py::open_run without its flock",
        (E + "test_retention_never_takes_the_run_directory_of_a_live_sweep",),
        (
            "daemon/sweep/rundirs.py",
            "                fcntl.flock(fd, fcntl.LOCK_EX)  # new and ours alone: never waits",
            "                pass",
        ),
    ),
    m(
        "summary-names-missing-report",
        "The summary never names a report that was not written",
        "daemon/output/progress.py::_report_place",
        (
            "tests/faults/test_disk_full.py::test_the_summary_never_names_a_report_that_was_not_written",
        ),
        (
            "daemon/output/progress.py",
            "    if path.exists():\n        return str(path)",
            "    if True:\n        return str(path)",
        ),
    ),
    m(
        "report-silent-on-missing",
        "`agentd report` says why the latest sweep has no report",
        "daemon/cli/cmd_report.py::report_command",
        ("tests/faults/test_disk_full.py::test_disk_full_during_a_sweep",),
        ("daemon/cli/cmd_report.py", "    if found.newer_without:", "    if False:"),
    ),
    m(
        "sigterm-unhandled-at-start",
        "SIGTERM during start-up: the daemon stops in order",
        "daemon/cli/cmd_run.py::run_daemon installs no handlers",
        ("tests/service/test_daemon.py::test_idle_daemon_stops_at_once_on_sigint_and_sigterm",),
        (
            "daemon/cli/cmd_run.py",
            "    install_handlers(signals, (signal.SIGTERM, signal.SIGINT, signal.SIGHUP), keep_ignored=False)",
            "    pass",
        ),
    ),
    m(
        "second-sigterm-ignored",
        "Two SIGTERMs in a row: the second skips the grace",
        "daemon/service/daemon.py::Daemon.shutdown ignores further signals",
        ("tests/faults/test_signals.py::test_two_sigterms_in_a_row_during_a_sweep",),
        (
            "daemon/service/daemon.py",
            "            pending = self.signals.wait(0)",
            "            pending = []",
        ),
    ),
    m(
        "second-sigterm-in-batch-lost",
        "Two SIGTERMs read together (during a reload): the second still counts",
        "daemon/service/daemon.py::Daemon.loop drops the rest of a batch",
        (
            "tests/faults/test_signals.py::test_two_sigterms_that_arrive_during_a_reload_still_skip_the_grace",
        ),
        (
            "daemon/service/daemon.py",
            "return self.shutdown(signum, received[i + 1 :])",
            "return self.shutdown(signum)",
        ),
    ),
    m(
        "ctrl-c-twice",
        "Ctrl-C twice during run --once: the second kills at once",
        "daemon/tasks/stop.py::StopToken.request never escalates",
        ("tests/sweep/test_failures.py::test_a_second_signal_kills_at_once",),
        (
            "daemon/tasks/stop.py",
            "            self.urgent = True\n            self._hard.poke()",
            "            pass",
        ),
    ),
    m(
        "sighup-kills-run-once",
        "SIGHUP to run --once: stop in order, exit 129",
        "daemon/cli/cmd_run.py::run_once without a SIGHUP handler",
        ("tests/faults/test_signals.py::test_sighup_stops_run_once_in_order",),
        (
            "daemon/cli/cmd_run.py",
            "    install_handlers(stop, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))",
            "    install_handlers(stop, (signal.SIGINT, signal.SIGTERM))",
        ),
    ),
    m(
        "usage-line-recursion",
        "Agent output: one line nested too deeply costs only that line",
        "daemon/agents/formats.py::json_lines",
        ("tests/agents/test_usage.py::test_one_line_nested_too_deeply_costs_only_that_line",),
        (
            "daemon/agents/formats.py",
            "        except (ValueError, RecursionError):  # one line of garbage costs that line alone",
            "        except ValueError:",
        ),
    ),
    m(
        "nan-drops-the-line",
        "Agent output: a NaN figure is dropped alone",
        "daemon/agents/formats.py::_not_a_number raises",
        (
            "tests/agents/test_usage.py::test_a_nan_cost_is_dropped_alone_and_the_token_counts_beside_it_count",
        ),
        (
            "daemon/agents/formats.py",
            "def _not_a_number(constant: str) -> Any:\n    return _NAN",
            "def _not_a_number(constant: str) -> Any:\n    raise ValueError(constant)",
        ),
    ),
    m(
        "unstarted-agent-counted",
        "An agent that never started is not a run with usage unknown",
        "daemon/sweep/task.py::_launch reads usage of a program that never ran",
        (E + "test_an_agent_that_never_started_is_not_a_run_with_usage_unknown",),
        ("daemon/sweep/task.py", "if outcome.spawned else None", "if True else None"),
    ),
    m(
        "budget-unchecked",
        "The budget reached: no new agent task starts",
        "daemon/sweep/budget.py::decide never finds a limit reached",
        (
            "tests/agents/test_agents.py::test_budget_skips_new_agent_tasks_and_never_kills_running_ones",
        ),
        ("daemon/sweep/budget.py", "        if item.reached:", "        if False:"),
    ),
    m(
        "require-clean-ignored",
        "A checkout the user is working in is left alone",
        "daemon/sweep/project.py::_refused never refuses",
        ("tests/agents/test_agents.py::test_require_clean_skips_dirty_or_off_branch_checkouts",),
        (
            "daemon/sweep/project.py",
            "    if not ctx.config.require_clean(spec):\n        return None",
            "    if True:\n        return None",
        ),
    ),
    m(
        "empty-file-reloaded",
        "A file caught mid-save is refused on reload; the armed schedule is kept",
        "daemon/service/daemon.py::Daemon._reread",
        (
            "tests/service/test_daemon.py::test_a_file_caught_mid_save_is_refused_and_the_armed_schedule_kept",
        ),
        (
            "daemon/service/daemon.py",
            "        if self.config.projects and not config.projects:",
            "        if False:",
        ),
    ),
    m(
        "status-shows-the-file",
        "`agentd status` shows the schedule that is armed",
        "daemon/cli/cmd_status.py::_schedule",
        (
            "tests/service/test_daemon.py::test_status_tells_a_file_not_yet_armed_from_the_schedule_that_fires",
        ),
        (
            "daemon/cli/cmd_status.py",
            '    if daemon["running"] and daemon.get("schedule"):',
            "    if False:",
        ),
    ),
    m(
        "next-fire-stale",
        "`agentd status` never shows a next fire in the past",
        "daemon/cli/cmd_status.py::_schedule uses the published next fire",
        (
            "tests/service/test_daemon.py::test_the_next_fire_shown_during_a_long_sweep_is_never_in_the_past",
        ),
        (
            "daemon/cli/cmd_status.py",
            '        fire = _next_fire(cron, zone_name, str(daemon.get("seconds") or "0"), now)',
            "        fire = None",
        ),
    ),
    m(
        "clean-stop-unrecorded",
        "`agentd status` tells a clean stop from a crash",
        "daemon/service/daemon.py::Daemon.shutdown records nothing",
        ("tests/service/test_daemon.py::test_a_clean_stop_is_not_reported_as_a_crash",),
        (
            "daemon/service/daemon.py",
            "        self.status.publish(self.config, stopped_at=stopped_at, stopped_by=cause or name)",
            "",
        ),
    ),
    m(
        "state-restarted-empty",
        "A used state directory without its state.json is refused, never restarted",
        "state/jsonfile.py::_first_state",
        (E + "test_a_used_state_directory_without_its_state_is_refused",),
        ("state/jsonfile.py", "        if used:\n", "        if False:\n"),
    ),
    m(
        "symlink-replaced",
        "A symlinked state.json is kept, written through",
        "state/journal.py::Journal.compact replaces the link",
        (E + "test_a_symlinked_state_file_is_written_through_and_refused_when_its_disk_is_gone",),
        (
            "state/journal.py",
            "        target = self.path.resolve() if self.path.is_symlink() else self.path",
            "        target = self.path",
        ),
    ),
    m(
        "foreign-state-dir",
        "A state directory of another user is refused",
        "state/files.py::ensure_state_dir",
        (E + "test_a_state_directory_of_another_user_is_refused",),
        ("state/files.py", "    if found.st_uid != os.geteuid():", "    if False:"),
    ),
    m(
        "silent-chmod",
        "An open state directory is closed with a warning",
        "daemon/cli/setup.py::_make_state_dir",
        (E + "test_an_open_state_directory_is_closed_with_a_warning",),
        ("daemon/cli/setup.py", "    if old_mode is not None:", "    if False:"),
    ),
    m(
        "closed-stdout",
        "stdout closed: the sweep runs, nothing lands in agentd's files",
        "daemon/cli/main.py::main without _open_standard_streams",
        (E + "test_a_sweep_with_stdout_closed_runs_and_writes_no_output_into_its_files",),
        ("daemon/cli/main.py", "    _open_standard_streams()\n    args", "    args"),
    ),
    m(
        "broken-pipe-exit-0",
        "A reader that leaves does not change the exit status",
        "daemon/output/progress.py::print_summary without reader_may_leave",
        (E + "test_a_reader_that_leaves_does_not_change_the_exit_status",),
        (
            "daemon/output/progress.py",
            "    with reader_may_leave():\n        if rich:",
            "    if True:\n        if rich:",
        ),
    ),
    m(
        "early-sigint-traceback",
        "SIGINT early in start-up: never a traceback",
        "daemon/cli/entry.py keeps Python's SIGINT handler",
        (E + "test_sigint_at_any_moment_of_start_up_is_never_a_traceback",),
        ("daemon/cli/entry.py", "    signal.signal(signal.SIGINT, signal.SIG_DFL)", "    pass"),
    ),
    m(
        "ignored-signal-overridden",
        "A signal ignored by whoever started agentd stays ignored",
        "daemon/tasks/stop.py::install_handlers",
        (E + "test_a_signal_ignored_by_whoever_started_agentd_stays_ignored",),
        (
            "daemon/tasks/stop.py",
            "        if not keep_ignored or signal.getsignal(sig) is not signal.SIG_IGN:",
            "        if True:",
        ),
    ),
    m(
        "e2big-unexplained",
        "Arguments past the kernel's limit: the task fails with that reason",
        "daemon/tasks/runner.py::_start_failure",
        (E + "test_arguments_and_environment_past_the_kernels_limit_fail_the_task_alone",),
        ("daemon/tasks/runner.py", "    if exc.errno == errno.E2BIG:", "    if False:"),
    ),
    m(
        "symlink-loop-unnamed",
        "Odd project paths are named for what they are",
        "daemon/sweep/selection.py::directory_problem",
        (E + "test_odd_project_paths_are_named_for_what_they_are",),
        ("daemon/sweep/selection.py", "        if exc.errno == errno.ELOOP:", "        if False:"),
    ),
    m(
        "escape-sequences-shown",
        "Terminal safety: control characters never reach a terminal",
        "daemon/output/report.py::render_markdown",
        (E + "test_escape_sequences_in_task_output_never_reach_a_terminal",),
        (
            "daemon/output/report.py",
            '    return harmless("\\n".join(lines) + "\\n")',
            '    return "\\n".join(lines) + "\\n"',
        ),
    ),
    m(
        "removed-projects-kept",
        "The state stays the size of the configuration",
        "state/jsonfile.py::forget_absent",
        (E + "test_projects_removed_from_the_config_leave_the_state_after_keep_runs_sweeps",),
        ("state/jsonfile.py", "                if count >= sweeps:", "                if False:"),
    ),
    m(
        "dst-days-as-any-day",
        "Daylight saving: no fire lost or doubled",
        "config/cron.py::_shifts treats every day as one without a change",
        (
            "tests/service/test_schedule.py::test_fire_times_across_daylight_saving_changes",
            "tests/config/test_cron_differential.py",
        ),
        ("config/cron.py", "    return len(offsets) > 1", "    return False"),
    ),
    m(
        "fixed-time-fires-twice",
        "Daylight saving: a repeated wall time fires once",
        "config/cron.py::_day_instants follows the clock for every expression",
        ("tests/service/test_schedule.py::test_fire_times_across_daylight_saving_changes",),
        ("config/cron.py", "        if plan.fixed_time:", "        if False:"),
    ),
    m(
        "or-days-refused",
        "Crontab: with both day fields restricted, either matches",
        "config/cron.py::parse_cron",
        ("tests/config/test_cron_and_durations.py",),
        (
            "config/cron.py",
            "    if not either_day and not _any_day_exists(values[2], values[3]):",
            "    if not _any_day_exists(values[2], values[3]):",
        ),
    ),
    m(
        "secret-prefix-shown",
        "Secrets in output: masked even where the window cuts them",
        "daemon/output/redact.py::_mask_cut_start never masks",
        (
            "tests/tasks/test_tasks_and_files.py::test_a_secret_cut_by_the_tail_window_is_masked_too",
        ),
        (
            "daemon/output/redact.py",
            "            if cut > longest and text.startswith(secret[-cut:]):",
            "            if False:",
        ),
    ),
    m(
        "webhook-url-shown",
        "A webhook URL holding a token is never shown",
        "config/secrets.py::redact_url",
        ("tests/output/test_alerts.py::test_redact_url",),
        (
            "config/secrets.py",
            '    return f"{parts.scheme}://{host}" if parts.scheme and host else "(unparseable URL)"',
            "    return url",
        ),
    ),
    m(
        "git-hooks-run",
        "agentd's git commands run no repository hook",
        "daemon/tasks/gitrepo.py::_git",
        ("tests/tasks/test_gitrepo.py::test_hooks_do_not_run",),
        (
            "daemon/tasks/gitrepo.py",
            '["git", "-c", "core.hooksPath=/dev/null", *args]',
            '["git", *args]',
        ),
    ),
    m(
        "reserved-names-allowed",
        "Names that collide with agentd's files are refused",
        "config/model.py::ProjectSpec._name",
        ("tests/config/test_validation.py",),
        ("config/model.py", "        if value in RESERVED_PROJECT_NAMES:", "        if False:"),
    ),
    m(
        "pg-claim-unlocked",
        "Several hosts: a project runs on one host at a time",
        "state/pgdoc.py::lock_project reads the claim without locking its row",
        (
            "tests/state/test_contract_race.py::test_racing_claims_of_one_project_give_it_to_exactly_one",
        ),
        (
            "state/pgdoc.py",
            '"SELECT doc, claim FROM agentd.projects WHERE name = %s FOR UPDATE", (project,)',
            '"SELECT doc, claim FROM agentd.projects WHERE name = %s", (project,)',
        ),
    ),
    m(
        "pg-reserve-unlocked",
        "Several hosts: budgets hold across hosts",
        "state/postgres.py::PostgresStore.reserve without the ledger's lock",
        (
            "tests/state/test_contract_race.py::test_racing_reservations_never_pass_the_rule_together",
        ),
        (
            "state/postgres.py",
            """            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK,))
            # A run that lost its claim would hold a reservation nobody counts.""",
            """            # A run that lost its claim would hold a reservation nobody counts.""",
        ),
    ),
    m(
        "abandoned-left-running",
        "Several hosts: a dead sweep's tasks are stopped when its host sweeps again",
        "daemon/sweep/abandoned.py::stop_abandoned stops nothing once another holds the claim",
        ("tests/sweep/test_abandoned.py",),
        (
            "daemon/sweep/abandoned.py",
            "    left = {run: by_run[run] for run in dead if run not in claimed}",
            "    left: dict[str, Any] = {}",
        ),
    ),
    m(
        "worker-result-outside-finally",
        "A project's thread ended by a BaseException still hands its result over",
        "daemon/sweep/executor.py::_FanOut.worker posting its result outside finally",
        (
            "tests/sweep/test_executor.py::"
            "test_a_project_thread_ended_by_a_base_exception_still_hands_a_result_over",
        ),
        (
            "daemon/sweep/executor.py",
            """        finally:
            if result is None:  # a BaseException is on its way out of this thread
                result = _crashed(project, "internal error: its thread ended without a result")
            self.done.put(result)""",
            """        finally:
            pass
        assert result is not None
        self.done.put(result)""",
        ),
    ),
    m(
        "stop-waits-with-select",
        "agentd started holding more than 1,024 descriptors still sees its stop requests",
        "daemon/tasks/stop.py::_Pipe.wait with select",
        ("tests/tasks/test_stop.py::test_a_token_whose_pipe_is_numbered_past_1024_still_works",),
        (
            "daemon/tasks/stop.py",
            """        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        if timeout is not None:
            timeout = min(max(0.0, timeout) * 1000, _POLL_MAX_MS)
        # A signal during the wait does not end it (PEP 475: poll is retried), but its
        # C-level handler writes to the wakeup pipe, which may be this one.
        return bool(poller.poll(timeout))""",
            """        return bool(select.select([self.read_fd], [], [], timeout)[0])""",
        ),
    ),
]


def _copy_tree(dest: Path) -> None:
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def _apply(tree: Path, mutant: Mutant) -> None:
    for name, old, new in mutant.edits:
        path = tree / name
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(
                f"{mutant.id}: {name} holds that text {text.count(old)} times, not once"
            )
        path.write_text(text.replace(old, new))


def _run(tree: Path, tests: tuple[str, ...]) -> tuple[str, str, float]:
    """("passed" | "failed" | "skipped", the first failure line, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-rs", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [*command, "-n", "2", *tests], cwd=tree, env=env, capture_output=True, text=True
    )
    took = time.monotonic() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    if proc.returncode != 0:
        return "failed", (lines[0] if lines else proc.stdout[-300:]), took
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if " passed" not in summary:  # every test skipped: it proves nothing either way
        return "skipped", summary, took
    return "passed", summary, took


def main() -> int:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # run in the background (nohup)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="mutant ids")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    chosen = [mt for mt in MUTANTS if not args.only or mt.id in args.only]
    if args.list:
        for mt in chosen:
            print(f"{mt.id}: {mt.where} -> {', '.join(mt.tests)}")
        return 0
    rows: list[tuple[Mutant, str, str, float]] = []
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="agentd-mutants-") as scratch:
        for mt in chosen:
            # ../shared beside the copy, as beside the checkout (tools/with-systemd).
            tree = Path(scratch) / mt.id / "main"
            tree.mkdir(parents=True)
            if (ROOT.parent / "shared").is_dir():
                (tree.parent / "shared").symlink_to(ROOT.parent / "shared")
            _copy_tree(tree)
            outcome, detail, _ = _run(tree, mt.tests)
            if outcome != "passed":
                verdict = f"not checked: the tests {outcome} on the real code"
            else:
                _apply(tree, mt)
                outcome, detail, _ = _run(tree, mt.tests)
                verdict = {"failed": "caught", "passed": "MISSED"}.get(outcome, "not checked")
            if verdict != "caught":
                missed.append(mt.id)
            rows.append((mt, verdict, detail, 0.0))
            print(f"{verdict}  {mt.id}  {detail[:140]}", flush=True)
            shutil.rmtree(tree.parent, ignore_errors=True)
    print("\n| promise | mutant | test | verdict |\n|---|---|---|---|")
    for mt, verdict, _, _ in rows:
        tests = ", ".join(f"`{t.split('::')[-1]}`" for t in mt.tests)
        print(f"| {mt.promise} | `{mt.where}` | {tests} | {verdict} |")
    if missed:
        print(f"\nnot caught: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
