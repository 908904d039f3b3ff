#!/usr/bin/env python3
"""An OSD dies under a running query (docs/rados.md): 3 OSDs, pool size 3; one `ftq worker` runs
a slowed Q1 on 10M rows with a checkpoint every 250 ms; the OSD that is primary for the query's
manifest (`ceph osd map`) is killed with SIGKILL mid-query. The query must go on: checkpoints
keep committing after the kill (last_epoch in the worker's /cluster view advances), the worker keeps
its lease (no lost lease, refused commit, failure or takeover), and the result equals a
fault-free `ftq run`'s CSV byte for byte.

  tests/rados/with-cluster.sh --osds 3 -- python3 tests/rados/osd_failover_test.py BUILD/src/cli/ftq [--data-cache DIR]

The last line is "osd-failover: N passed, N failed".
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rados_harness as h  # noqa: E402

# Checkpoints that must commit after the kill.
COMMITS_AFTER = 3


def ceph_json(args, timeout=20):
    _, out, _ = h.run(["ceph"] + args + ["-f", "json"], timeout=timeout)
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ftq", help="the ftq binary (a release build: 10M rows)")
    ap.add_argument("--data-cache", default=h.default_cache_dir(),
                    help="where the generated data set is kept between runs (default: $FTQ_RADOS_DATA_CACHE, "
                         "else BUILD/rados-test-data)")
    ap.add_argument("--lease", default="3s")
    ap.add_argument("--renew", default="1s")
    ap.add_argument("--poll", default="200ms")
    ap.add_argument("--stall", default="3ms", help="injected stall before each csv_scan batch (2442 batches)")
    args = ap.parse_args()

    c = h.checks("osd-failover")
    ws = h.workspace("osd-failover")
    pool = None
    started = time.monotonic()
    try:
        store = h.store_uri()
        cluster_dir = os.environ.get("FTQ_CEPH_CLUSTER_DIR")
        if not cluster_dir:
            raise h.test_failure("FTQ_CEPH_CLUSTER_DIR is not set: run under tests/rados/with-cluster.sh --osds 3")
        uri = urllib.parse.urlparse(store)
        pool_name, prefix = uri.netloc, uri.path.strip("/")
        size = ceph_json(["osd", "pool", "get", pool_name, "size"]).get("size")
        up = [o["osd"] for o in ceph_json(["osd", "dump"])["osds"] if o.get("up")]
        if not c.check(size == 3 and len(up) == 3, f"pool {pool_name} has 3 replicas on 3 up OSDs",
                       f"size {size}, up {up}"):
            raise h.test_failure("run under tests/rados/with-cluster.sh --osds 3")

        data, gen_s = h.ensure_data(args.ftq, args.data_cache)
        c.figure("data generation", f"{gen_s:.1f} s" if gen_s else f"cached ({data})")
        expected, ref_s = h.reference_csv(args.ftq, data)
        c.figure("fault-free reference run", f"{ref_s:.1f} s" if ref_s else "cached")

        pool = h.worker_pool(args.ftq, store, ws.path, args.lease, args.renew, args.poll)
        w = pool.start(extra=["--status", "127.0.0.1:0"])
        url = pool.endpoint(w)
        q = f"failover-{random.randrange(1 << 32):08x}"
        out = ws.path / "out" / "q1.csv"
        out.parent.mkdir()
        h.submit(args.ftq, store, data, out, q, f"stall:op=csv_scan,p=1,for={args.stall}")
        first = pool.wait_for(h.is_first_start(q), 30, f"{w} to start {q}")
        pool.wait_for(h.is_resumed(q, w), 30, f"{w} to start running {q}", since=first.seq)
        h.wait_status(args.ftq, store, q, lambda s: (s.get("last_epoch") or 0) >= 2, 30,
                      f"{w} to commit two checkpoints of {q}")

        oid = f"{prefix}/{q}/manifest" if prefix else f"{q}/manifest"
        where = ceph_json(["osd", "map", pool_name, oid])
        victim = where.get("acting_primary")
        acting = where.get("acting")
        c.check(isinstance(victim, int) and victim >= 0 and len(acting or []) == 3,
                f"the manifest {oid} is on 3 OSDs, primary osd.{victim}", json.dumps(where))
        if not isinstance(victim, int) or victim < 0:
            victim = 0
        h.run([str(h.SOURCE_ROOT / "scripts" / "ceph-cluster"), "kill-osd", cluster_dir, str(victim)], timeout=20)
        killed_at = time.monotonic()
        h.log(f"[{h.now_text()}] killed osd.{victim} (primary of {oid})")
        # A client that connects right after the kill (ftq status) may wait for a newer OSD map;
        # measured on the side. The epochs come from the worker's own view of the store (its
        # /cluster endpoint, refreshed every poll from the manifest), which is already connected.
        fresh = {}

        def fresh_client():
            t = time.monotonic()
            try:
                h.status(args.ftq, store, q)
                fresh["s"] = time.monotonic() - t
            except h.test_failure as e:
                fresh["error"] = str(e)

        side = threading.Thread(target=fresh_client, daemon=True)
        side.start()
        view = h.cluster_view(url, q)
        if view is None or view.get("state") != "running":
            raise h.test_failure(f"{q} is not running any more when osd.{victim} died: make the query slower "
                                 f"(--stall); {json.dumps(view)}")
        # The view is at most one poll old: one more commit may predate the kill.
        base_epoch = (view.get("last_epoch") or 0) + 1
        seen = []  # (seconds after the kill, epoch)
        deadline = time.monotonic() + 60
        while True:
            view = h.cluster_view(url, q) or {}
            epoch = view.get("last_epoch") or 0
            if not seen or seen[-1][1] != epoch:
                seen.append((time.monotonic() - killed_at, epoch))
            if epoch >= base_epoch + COMMITS_AFTER or view.get("state") in ("succeeded", "failed"):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        after = (view.get("last_epoch") or 0) - base_epoch
        c.check(after >= COMMITS_AFTER, f"{COMMITS_AFTER} checkpoints committed after osd.{victim} died",
                f"{after} (epochs seen after the kill {seen}, state {view.get('state')})")
        firsts = [t for t, e in seen if e > base_epoch]
        if firsts:
            c.figure("kill -> first checkpoint that began after it committed", f"{firsts[0]:.3f} s")
        c.figure("epochs seen after the kill (s, epoch)", " ".join(f"{t:.2f}:{e}" for t, e in seen))
        down = [o["osd"] for o in ceph_json(["osd", "dump"])["osds"] if not o.get("up")]
        c.check(down == [victim], f"the cluster marked osd.{victim} down", f"down: {down}")

        succeeded = pool.wait_for(h.is_succeeded(q), 180, f"{q} to succeed")
        c.check(succeeded.worker == w, f"{w} committed the result", succeeded.worker)
        pool.wait_for(h.is_delivered(q), 30, f"{q}'s result to be delivered")
        got = out.read_bytes() if out.is_file() else b""
        want = expected.read_bytes()
        c.check(got == want, "the result equals the fault-free run's CSV byte for byte",
                f"{len(got)} bytes vs {len(want)}")
        st = h.status(args.ftq, store, q)
        result = st.get("result") or {}
        c.check(st.get("state") == "succeeded" and result.get("committed_by") == w,
                f"ftq status --json: succeeded, committed by {w}", json.dumps(st))
        c.check(result.get("sha256") == h.file_sha256(expected), "ftq status --json: the result's sha256 is the "
                "expected CSV's", str(result.get("sha256")))
        moves = [(e.get("from"), e.get("to")) for e in st.get("history") or [] if e.get("from") and e.get("to")]
        c.check(not moves and not pool.select(h.is_takeover(q)), f"{w} kept the query: no handover", str(moves))
        trouble = pool.select(h.is_trouble(q))
        c.check(not trouble, "no failure, lost lease or refused commit", str(trouble))
        c.check(not pool.deaths(), "no worker died unless the test killed it", pool.deaths().strip())
        c.check(pool.alive(w), f"{w} is still running")
        side.join(timeout=60)
        c.figure("a fresh client's first read after the kill (ftq status)",
                 f"{fresh['s']:.2f} s" if "s" in fresh else fresh.get("error", "did not finish"))
    except h.test_failure as e:
        c.check(False, str(e))
    except (subprocess.SubprocessError, ValueError, KeyError) as e:
        c.check(False, f"unexpected: {e!r}")
    finally:
        if pool:
            pool.stop_all()
    c.figure("test wall time", f"{time.monotonic() - started:.1f} s")
    status = c.finish()
    ws.close(status == 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
