#!/usr/bin/env python3
"""Fencing, end to end (docs/rados.md): two `ftq worker`s share a store; the owner of a slowed
Q1 on 10M rows is SIGSTOPped past its lease; the other worker must take the query over (log
line) and commit checkpoints of its own; then the first is SIGCONTed. It must find itself fenced
("refused commit for Q" or "lost Q") and never log "succeeded Q": exactly one result is
committed (one "succeeded" history entry, committed_by the new owner), the output file is
written once and equals a fault-free `ftq run`'s CSV byte for byte.

  tests/rados/with-cluster.sh -- python3 tests/rados/fencing_test.py BUILD/src/cli/ftq [--data-cache DIR]

The last line is "fencing: N passed, N failed".
"""
import argparse
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rados_harness as h  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ftq", help="the ftq binary (a release build: 10M rows)")
    ap.add_argument("--data-cache", default=h.default_cache_dir(),
                    help="where the generated data set is kept between runs (default: $FTQ_RADOS_DATA_CACHE, "
                         "else BUILD/rados-test-data)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lease", default="2s")
    ap.add_argument("--renew", default="500ms")
    ap.add_argument("--poll", default="200ms")
    ap.add_argument("--stall", default="3ms", help="injected stall before each csv_scan batch (2442 batches)")
    args = ap.parse_args()
    bound = h.parse_seconds(args.lease) + h.parse_seconds(args.renew) + 1.0

    c = h.checks("fencing")
    ws = h.workspace("fencing")
    pool = None
    started = time.monotonic()
    try:
        store = h.store_uri()
        data, gen_s = h.ensure_data(args.ftq, args.data_cache)
        c.figure("data generation", f"{gen_s:.1f} s" if gen_s else f"cached ({data})")
        expected, ref_s = h.reference_csv(args.ftq, data)
        c.figure("fault-free reference run", f"{ref_s:.1f} s" if ref_s else "cached")

        pool = h.worker_pool(args.ftq, store, ws.path, args.lease, args.renew, args.poll)
        for _ in range(args.workers):
            pool.start()
        q = f"fencing-{random.randrange(1 << 32):08x}"
        out_dir = ws.path / "out"
        out_dir.mkdir()
        out = out_dir / "q1.csv"
        h.submit(args.ftq, store, data, out, q, f"stall:op=csv_scan,p=1,for={args.stall}")

        first = pool.wait_for(h.is_first_start(q), 30, f"a worker to start {q}")
        stale = first.worker
        pool.wait_for(h.is_resumed(q, stale), 30, f"{stale} to start running {q}", since=first.seq)
        h.wait_status(args.ftq, store, q, lambda s: s.get("last_epoch") is not None, 30,
                      f"{stale} to commit a checkpoint of {q}")

        mark = pool.mark()
        stopped_at = pool.kill(stale, signal.SIGSTOP)
        h.log(f"[{h.now_text()}] SIGSTOP {stale}")
        take = pool.wait_for(h.is_takeover(q), bound + 20, f"another worker to take {q} over from {stale}",
                             since=mark)
        fresh = take.worker
        frm, lapsed = h.takeover_from(take)
        c.check(frm == stale and fresh != stale, f"{fresh} took {q} over from the stopped {stale}", take.text)
        dt_take = take.at - stopped_at
        c.check(dt_take <= bound, f"taken over {dt_take:.3f} s after SIGSTOP (bound {bound:.1f} s)")
        c.figure("takeover of the stopped owner", f"{dt_take:.3f} s (lease lapsed {lapsed} ms before)")
        res = pool.wait_for(h.is_resumed(q, fresh), 30, f"{fresh} to resume {q}", since=take.seq)
        epoch = h.resumed_epoch(res)
        # The new owner moves the manifest on before the stale one wakes up.
        h.wait_status(args.ftq, store, q,
                      lambda s: s.get("state") == "succeeded" or
                      (s.get("last_epoch") is not None and (epoch is None or s["last_epoch"] > epoch)),
                      30, f"{fresh} to commit a checkpoint of {q}")

        mark = pool.mark()
        woke_at = time.time()
        os.kill(pool.procs[stale].pid, signal.SIGCONT)
        h.log(f"[{h.now_text()}] SIGCONT {stale}")
        fenced = pool.wait_for(
            lambda e: e.worker == stale and (e.text.startswith(f"refused commit for {q}:") or
                                              e.text.startswith(f"lost {q}:")),
            20, f"the woken {stale} to find itself fenced ('refused commit for {q}' or 'lost {q}')", since=mark)
        c.check(True, f"the woken {stale} was fenced: {fenced.text}")
        c.figure("SIGCONT -> fenced", f"{fenced.at - woke_at:.3f} s")

        succeeded = pool.wait_for(h.is_succeeded(q), 180, f"{q} to succeed")
        c.check(succeeded.worker == fresh, f"the new owner {fresh} committed the result", succeeded.worker)
        pool.wait_for(h.is_delivered(q), 30, f"{q}'s result to be delivered")
        st = h.status(args.ftq, store, q)
        # Nothing to await here: a few poll rounds of every worker, so that a late second
        # commit or delivery by the woken one would show in the checks below.
        time.sleep(3 * h.parse_seconds(args.poll))

        c.check(not pool.select(h.is_succeeded(q, stale)), f"the woken {stale} never logged 'succeeded {q}'")
        c.check(pool.alive(stale), f"the woken {stale} is still running (it stopped the query, not itself)")
        c.check(len(pool.select(h.is_succeeded(q))) == 1, "one worker logged success")
        delivered = pool.select(h.is_delivered(q))
        c.check(len(delivered) == 1, "the result was delivered once", str(delivered))
        files = sorted(p.name for p in out_dir.iterdir())
        c.check(files == [out.name], "the output directory holds the result file alone", str(files))
        got = out.read_bytes() if out.is_file() else b""
        want = expected.read_bytes()
        c.check(got == want, "the result equals the fault-free run's CSV byte for byte",
                f"{len(got)} bytes vs {len(want)}")

        result = st.get("result") or {}
        c.check(st.get("state") == "succeeded", "ftq status --json: the query succeeded", st.get("state"))
        c.check(result.get("committed_by") == fresh, f"ftq status --json: committed by {fresh}",
                str(result.get("committed_by")))
        c.check(result.get("sha256") == h.file_sha256(expected), "ftq status --json: the result's sha256 is the "
                "expected CSV's", str(result.get("sha256")))
        history = st.get("history") or []
        succ = [e for e in history if e.get("why") == "succeeded"]
        c.check(len(succ) == 1 and succ[0].get("from") == fresh, "the history has one 'succeeded' entry, "
                f"by {fresh}", str(succ))
        moves = [(e.get("from"), e.get("to")) for e in history if e.get("from") and e.get("to")]
        c.check(moves == [(stale, fresh)], f"the history lists the one handover {stale} -> {fresh}", str(moves))
        others = pool.select(lambda e: h.is_trouble(q)(e) and e.worker != stale)
        c.check(not others, "no other worker logged a failure, a lost lease or a refused commit", str(others))
        c.check(not pool.deaths(), "no worker died unless the test killed it", pool.deaths().strip())
    except h.test_failure as e:
        c.check(False, str(e))
    finally:
        if pool:
            pool.stop_all()
    c.figure("test wall time", f"{time.monotonic() - started:.1f} s")
    status = c.finish()
    ws.close(status == 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
