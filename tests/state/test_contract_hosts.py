"""The store's contract for several hosts: what each host keeps of its own (fires, the
daemon's status), which host may have a project's directory, and the reports of other
hosts' runs. A store of one host (the JSON file, ``shared`` False) answers as a single
host always did; a shared one (PostgreSQL) as described. Run on every backend, as
tests/state/test_contract.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.state.contract import DATE, NOW, StoreFactory, at, stamp, summary

TOMORROW = "2026-11-23"


def test_fires_and_the_daemon_are_each_hosts_own(store_factory: StoreFactory) -> None:
    one, two = store_factory(host="h1"), store_factory(host="h2")
    info = {"pid": 4242, "pid_start": 7, "host": "h1", "next_fire": stamp(at(3600))}
    one.set_daemon(info)
    one.record_fire("2026-11-22T02:00:00+01:00", True, None, NOW)
    one.record_fire("2026-11-23T02:00:00+01:00", False, "busy", NOW)
    fires = {
        "last_handled": "2026-11-22T02:00:00+01:00",
        "skipped": [{"fire": "2026-11-23T02:00:00+01:00", "at": stamp(NOW), "reason": "busy"}],
    }
    assert one.read().fires() == fires
    assert one.read().daemon() == info
    seen = two.read()
    if not one.shared:
        assert (seen.fires(), seen.daemon(), seen.hosts()) == (fires, info, {})
        return
    assert (seen.fires(), seen.daemon()) == ({}, None)
    assert seen.hosts()["h1"]["fires"] == fires
    assert seen.hosts()["h1"]["daemon"] == info
    assert datetime.fromisoformat(seen.hosts()["h1"]["seen"]) == NOW


def test_a_project_missing_here_is_left_to_the_hosts_that_may_have_it(
    store_factory: StoreFactory,
) -> None:
    one, two, three = (store_factory(host=f"h{n}") for n in (1, 2, 3))
    if not one.shared:
        assert one.publish_presence(DATE, ["api", "web"], NOW) == {"api": [], "web": []}
        return
    assert one.publish_presence(DATE, ["api"], NOW) == {"api": []}  # nobody else known
    assert two.publish_presence(DATE, [], NOW) == {}
    assert three.publish_presence(DATE, ["api", "web"], NOW) == {"api": ["h2"], "web": ["h1", "h2"]}
    assert one.publish_presence(DATE, ["api"], NOW) == {"api": ["h2"]}
    # A host not seen for over two days is not waited for; another night starts afresh.
    store_factory(host="h0").publish_presence(DATE, [], NOW - timedelta(days=2, seconds=1))
    later = at(3600)
    assert two.publish_presence(TOMORROW, ["api"], later) == {"api": ["h1", "h3"]}


def test_a_project_on_no_host_is_failed_once(store_factory: StoreFactory) -> None:
    one, two = store_factory(host="h1"), store_factory(host="h2")
    assert one.claim_nowhere("api", DATE, ["h1", "h2"])
    if not one.shared:  # one host: each of its sweeps fails it, as it always did
        assert two.claim_nowhere("api", DATE, ["h1", "h2"])
        return
    assert not two.claim_nowhere("api", DATE, ["h1", "h2"])
    assert not one.claim_nowhere("api", DATE, ["h1", "h2"])
    assert two.claim_nowhere("web", DATE, ["h1", "h2"])
    assert two.claim_nowhere("api", TOMORROW, ["h1", "h2"])


def test_a_shared_store_keeps_the_reports_of_every_host(store_factory: StoreFactory) -> None:
    one, two = store_factory(host="h1"), store_factory(host="h2")
    report = {"run_id": "20261122T0100Z-a", "host": "h1", "projects": [{"name": "api"}]}
    one.record_run(summary("20261122T0100Z-a", "h1", at(60)), keep=5, report=report)
    if not one.shared:  # it is runs/<run_id>/report.json in the state directory
        assert two.report_document("20261122T0100Z-a") is None
        return
    assert two.report_document("20261122T0100Z-a") == report
    assert two.report_document("20261122T0100Z-x") is None
    # The summary recorded again (the sweep's end failed a step) keeps its report.
    one.record_run({**summary("20261122T0100Z-a", "h1", at(60)), "status": "failed"}, keep=5)
    assert one.report_document("20261122T0100Z-a") == report
