#!/usr/bin/env python3
"""Takeover time of `ftq worker` (docs/rados.md, docs/benchmarks.md "rados_takeover").

Three workers share a RADOS store and run a slowed Q1 on 10M rows (a stall before every
csv_scan batch keeps it running for seconds). Each trial SIGKILLs the query's owner at a random
moment after it resumed and committed a checkpoint of its own, and measures, from the workers'
log timestamps against the moment of the kill:
  kill -> "took over"   (the lease lapses, a polling worker takes the query)
  kill -> "resumed"     (the newest checkpoint restored: progress goes on; THE figure)
A replacement worker keeps three alive. A query that ends is replaced by a new one. The
baseline, measured in the same run, is a graceful handover: SIGTERM makes the owner take a final
checkpoint and release its lease, so the next worker needs no lease to lapse.

  bench/rados_takeover.py --ftq BUILD/src/cli/ftq [--trials 10] [--lease 2s --renew 500ms --poll 200ms]
                          [--json out.json]

Uses the cluster of CEPH_CONF/FTQ_TEST_RADOS when both are set (tests/rados/with-cluster.sh),
else starts a throwaway one with scripts/ceph-cluster and stops it at the end. Python 3
standard library only.
"""
import argparse
import json
import os
import pathlib
import platform
import random
import signal
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "rados"))
import rados_harness as h  # noqa: E402


def summary(values):
    if not values:
        return None
    return {"n": len(values), "min": min(values), "p50": statistics.median(values), "p90": h.percentile(values, 90),
            "max": max(values)}


def trial(args, pool, store, rng, state, graceful):
    """One handover of the running query (a new query when none runs); returns its figures."""
    for _ in range(5):  # a query that ends meanwhile is replaced
        if state.get("query") is None:
            state["n"] = state.get("n", 0) + 1
            q = f"bench-{state['tag']}-{state['n']}"
            h.submit(args.ftq, store, state["data"], state["out_dir"] / f"{q}.csv", q,
                     f"stall:op=csv_scan,p=1,for={args.stall}")
            take = pool.wait_for(h.is_first_start(q), 30, f"a worker to start {q}")
            state.update(query=q, take=take)
        q, take = state["query"], state["take"]
        owner = take.worker
        res = pool.wait_for(h.is_resumed(q, owner), 30, f"{owner} to resume {q}", since=take.seq)
        epoch = h.resumed_epoch(res)
        st = h.wait_status(args.ftq, store, q,
                           lambda s: s.get("state") == "succeeded" or
                           (s.get("last_epoch") is not None and (epoch is None or s["last_epoch"] > epoch)),
                           30, f"{owner} to commit a checkpoint of {q}")
        time.sleep(rng.uniform(0.0, 0.6))
        if st.get("state") == "succeeded" or pool.find(h.is_succeeded(q)):
            state["query"] = None
            continue
        mark = pool.mark()
        at = pool.kill(owner, signal.SIGTERM if graceful else signal.SIGKILL)
        took = pool.wait_for(h.is_takeover(q), 60, f"another worker to take {q} over from {owner}", since=mark)
        resumed = pool.wait_for(h.is_resumed(q, took.worker), 30, f"{took.worker} to resume {q}", since=took.seq)
        if graceful:
            pool.procs[owner].wait(timeout=30)
        frm, lapsed = h.takeover_from(took)
        if frm != owner:
            raise h.test_failure(f"{took.worker} took {q} from {frm}, not from {owner}")
        state["take"] = took
        pool.start()
        return {"query": q, "from": owner, "to": took.worker, "took_over_s": took.at - at,
                "resumed_s": resumed.at - at, "restore_s": resumed.at - took.at, "lapsed_ms": lapsed,
                "resumed": resumed.text}
    raise h.test_failure("five queries in a row ended before their owner could be stopped: raise --stall")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ftq", required=True, help="a release build's ftq binary")
    ap.add_argument("--trials", type=int, default=10, help="SIGKILL handovers measured")
    ap.add_argument("--baseline-trials", type=int, default=5, help="graceful (SIGTERM) handovers measured")
    ap.add_argument("--lease", default="2s")
    ap.add_argument("--renew", default="500ms")
    ap.add_argument("--poll", default="200ms")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--stall", default="4ms", help="injected stall before each csv_scan batch")
    ap.add_argument("--data", default=h.default_cache_dir(), help="where the 10M-row data set is cached")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)

    cluster_dir = None
    if not (os.environ.get("CEPH_CONF") and os.environ.get("FTQ_TEST_RADOS")):
        cluster_dir = tempfile.mkdtemp(prefix="ftq-bench-ceph.")
        _, out, _ = h.run([str(ROOT / "scripts" / "ceph-cluster"), "start", cluster_dir, "--osds", "1"], timeout=120)
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if key in ("CEPH_CONF", "FTQ_TEST_RADOS"):
                os.environ[key] = value
    work = h.workspace("bench-takeover")
    pool = None
    ok = False
    try:
        store = h.store_uri()
        data, gen_s = h.ensure_data(args.ftq, args.data)
        if gen_s:
            h.log(f"generated the data set in {gen_s:.1f} s")
        out_dir = work.path / "out"
        out_dir.mkdir()
        pool = h.worker_pool(args.ftq, store, work.path, args.lease, args.renew, args.poll)
        for _ in range(args.workers):
            pool.start()
        runs = {}
        for arm, n, graceful in (("sigkill", args.trials, False), ("graceful", args.baseline_trials, True)):
            state = {"tag": arm, "data": data, "out_dir": out_dir}
            runs[arm] = []
            for i in range(n):
                r = trial(args, pool, store, rng, state, graceful)
                runs[arm].append(r)
                h.log(f"[{h.now_text()}] {arm} {i + 1}/{n}: {r['from']} -> {r['to']}: took over {r['took_over_s']:.3f} s, "
                      f"resumed {r['resumed_s']:.3f} s ({r['resumed']})")
        ok = True
    finally:
        if pool:
            pool.stop_all()
        if cluster_dir:
            h.run([str(ROOT / "scripts" / "ceph-cluster"), "stop", cluster_dir], timeout=60, check=False)
        work.close(ok)

    figures = {arm: {key: summary([r[key] for r in rs]) for key in ("took_over_s", "resumed_s", "restore_s", "lapsed_ms")}
               for arm, rs in runs.items()}
    print(f"rados_takeover: lease {args.lease}, renew {args.renew}, poll {args.poll}, {args.workers} workers, "
          f"Q1 on {h.ROWS} rows with stall {args.stall}/batch, seed {seed}")
    print(f"{'arm':9} {'figure':26} {'n':>3} {'min':>8} {'p50':>8} {'p90':>8} {'max':>8}")
    labels = {"took_over_s": "kill -> took over (s)", "resumed_s": "kill -> resumed (s)",
              "restore_s": "took over -> resumed (s)", "lapsed_ms": "lease lapsed before (ms)"}
    for arm, per in figures.items():
        for key, label in labels.items():
            s = per[key]
            if s:
                print(f"{arm:9} {label:26} {s['n']:>3} {s['min']:>8.3f} {s['p50']:>8.3f} {s['p90']:>8.3f} {s['max']:>8.3f}")
    bound = h.parse_seconds(args.lease) + h.parse_seconds(args.renew) + 1.0
    worst = figures["sigkill"]["resumed_s"]["max"] if figures["sigkill"]["resumed_s"] else None
    if worst is not None:
        print(f"documented bound lease + renew + 1 s = {bound:.1f} s: worst kill -> resumed {worst:.3f} s "
              f"({'within' if worst <= bound else 'OVER'})")
    if args.json:
        doc = {"benchmark": "rados_takeover", "lease": args.lease, "renew": args.renew, "poll": args.poll,
               "workers": args.workers, "stall": args.stall, "rows": h.ROWS, "seed": seed, "bound_s": bound,
               "figures": figures, "trials": runs,
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except h.test_failure as e:
        h.log(f"rados_takeover: FAILED: {e}")
        sys.exit(1)
