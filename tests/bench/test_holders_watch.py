"""bench/holders_watch: which transactions the pods' logs name as lock holders, and whether the
holder pod's deletion freed the lock (the timeline the hang bench reports)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "cluster"), str(ROOT / "bench")]

from holders_watch import holder_timelines, lock_holders, logged_errors, namings, unfinished_at_stop  # noqa: E402

HELD = ("[pod/wildfly-a/wildfly] {stamp} \x1b[0m11:29:15,848 ERROR [org.infinispan] ISPN000299: Unable to acquire "
        "lock after 15 seconds for key SessionMetaDataKey(x) and requestor GlobalTransaction{{id=16463, "
        "addr=wildfly-6bdc98-618c8c18, remote=true}}. Lock is held by GlobalTransaction{{id={tx}, addr={node}, "
        "remote=true, xid=null, internalId=-1}} (pending)")


def log(*namings_: tuple[str, str, str]) -> str:
    return "\n".join(HELD.format(stamp=stamp, tx=tx, node=node) for stamp, tx, node in namings_) + "\n"


def test_namings_are_the_holder_not_the_requestor_with_their_kubelet_times():
    text = log(("2026-12-03T11:29:15.500000000Z", "6386", "wildfly-74db96-d193be00"),
               ("2026-12-03T11:30:21.000000000Z", "6386", "wildfly-74db96-d193be00"))
    other = log(("2026-12-03T11:30:44.250000000Z", "2410", "wildfly-74db96-3902ac08"))
    found = namings([text, other])
    assert set(found) == {("6386", "wildfly-74db96-d193be00"), ("2410", "wildfly-74db96-3902ac08")}
    first, last = found[("6386", "wildfly-74db96-d193be00")]
    assert round(last - first, 3) == 65.5
    assert lock_holders([text, other]) == set(found)
    assert namings(["no lock held here\n"]) == {}


def test_timeline_says_how_long_after_the_deletion_the_holder_was_still_named():
    node = "wildfly-74db96-3902ac08"
    text = log(("2026-12-03T11:30:44.000000000Z", "2410", node), ("2026-12-03T11:31:44.000000000Z", "2410", node),
               ("2026-12-03T11:31:58.000000000Z", "2410", node))
    ((start, _),) = [(t[0], t[-1]) for t in namings([text]).values()]
    (deleted,) = holder_timelines([text], [{"transaction": "2410", "node": node, "evicted_at": start + 60}])
    assert deleted["named_s"] == 74.0 and deleted["named_after_delete_s"] == 14.0
    # not deleted: no such figure
    (watched,) = holder_timelines([text], [{"transaction": "2410", "node": node, "evicted_at": None}])
    assert watched["evicted_at"] is None and "named_after_delete_s" not in watched


STOPPED = ("[pod/{pod}/wildfly] 2026-12-03T14:45:43.947422670Z \x1b[0m\x1b[33m14:45:43,945 WARN  "
           "[org.infinispan.transaction.impl.TransactionTable] (ServerService Thread Pool -- 97) ISPN000100: "
           "Stopping, but there are {local} local transactions and {remote} remote transactions that did not "
           "finish in time.\n")


def test_unfinished_at_stop_adds_up_every_stop_that_logged_it():
    texts = [STOPPED.format(pod="wildfly-a", local=0, remote=15),
             STOPPED.format(pod="wildfly-b", local=2, remote=9) + STOPPED.format(pod="wildfly-b", local=1, remote=0),
             "a pod that is still running\n"]
    assert unfinished_at_stop(texts) == {"stops": 3, "local": 3, "remote": 24}
    assert unfinished_at_stop([]) == {"stops": 0, "local": 0, "remote": 0}


def test_logged_errors_counts_the_lines_that_carry_each_code():
    refused = ("[pod/wildfly-b/wildfly] 2026-12-03T17:02:29.900416931Z Caused by: org.infinispan.commons.CacheException: "
               "ISPN000482: Cannot create remote transaction GlobalTransaction{id=848, addr=wildfly-a, remote=true}, "
               "already completed\n")
    failed = ("[pod/wildfly-a/wildfly] 2026-12-03T17:02:29.902529869Z 17:02:29,900 ERROR "
              "[org.infinispan.transaction.impl.TransactionCoordinator] ISPN000097: Error while processing a prepare "
              "in a single-phase transaction\n")
    assert logged_errors([refused * 2, failed + refused, "nothing\n"]) == {"ISPN000482": 3, "ISPN000097": 1}
    assert logged_errors([]) == {"ISPN000482": 0, "ISPN000097": 0}
