#!/usr/bin/env python3
"""Takeover, end to end (docs/rados.md): three `ftq worker`s share a store; a slowed Q1 on 10M
rows is submitted; five times in a row its current owner is SIGKILLed at a random moment after
it resumed progress and committed a checkpoint of its own, and each time another worker must
take the query over within lease + renewal + 1 s of the kill (the log lines' timestamps) and
resume it from a newer epoch than the previous owner did; a replacement worker keeps three
alive. The result must equal a fault-free `ftq run`'s CSV byte for byte, and `ftq status
--json` must show the query succeeded, committed by the last owner, with every handover in its
history.

  tests/rados/with-cluster.sh -- python3 tests/rados/takeover_test.py BUILD/src/cli/ftq [--data-cache DIR]

Prints each takeover time; the last line is "takeover: N passed, N failed".
"""
import argparse
import os
import random
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
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--lease", default="2s")
    ap.add_argument("--renew", default="500ms")
    ap.add_argument("--poll", default="200ms")
    ap.add_argument("--stall", default="4ms", help="injected stall before each csv_scan batch (2442 batches)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the kill moments (default: random, printed)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    bound = h.parse_seconds(args.lease) + h.parse_seconds(args.renew) + 1.0

    c = h.checks("takeover")
    ws = h.workspace("takeover")
    pool = None
    started = time.monotonic()
    try:
        store = h.store_uri()
        data, gen_s = h.ensure_data(args.ftq, args.data_cache)
        c.figure("data generation", f"{gen_s:.1f} s" if gen_s else f"cached ({data})")
        expected, ref_s = h.reference_csv(args.ftq, data)
        c.figure("fault-free reference run", f"{ref_s:.1f} s" if ref_s else "cached")
        h.log(f"kill moments seed {seed}; lease {args.lease}, renew {args.renew}, poll {args.poll}; "
              f"takeover bound {bound:.1f} s")

        pool = h.worker_pool(args.ftq, store, ws.path, args.lease, args.renew, args.poll)
        for _ in range(3):
            pool.start()
        q = f"takeover-{rng.randrange(1 << 32):08x}"
        out = ws.path / "out" / "q1.csv"
        out.parent.mkdir()
        query_started = time.monotonic()
        h.submit(args.ftq, store, data, out, q, f"stall:op=csv_scan,p=1,for={args.stall}")

        take = pool.wait_for(h.is_first_start(q), 30, f"a worker to start {q}")
        owner = take.worker
        handovers = []  # (killed, taker)
        takeover_s = []
        resume_s = []
        last_epoch = None  # the epoch the previous owner resumed from
        for k in range(1, args.kills + 1):
            res = pool.wait_for(h.is_resumed(q, owner), 30, f"{owner} to resume {q}", since=take.seq)
            epoch = h.resumed_epoch(res)
            if k > 1:
                c.check(epoch is not None and (last_epoch is None or epoch > last_epoch),
                        f"kill {k}: {owner} resumed from a newer checkpoint than its predecessor",
                        f"epoch {epoch} after {last_epoch}")
            last_epoch = epoch
            # A checkpoint of its own first, so that every handover carries progress over.
            st = h.wait_status(args.ftq, store, q,
                               lambda s: s.get("state") == "succeeded" or
                               (s.get("last_epoch") is not None and (epoch is None or s["last_epoch"] > epoch)),
                               30, f"{owner} to commit a checkpoint of {q}")
            if st.get("state") == "succeeded":
                raise h.test_failure(f"{q} finished before kill {k}: make the query slower (--stall)")
            if not c.check(st.get("owner") == owner, f"kill {k}: ftq status names {owner} the owner",
                           f"owner {st.get('owner')!r}"):
                raise h.test_failure("the log lines and the store disagree on the owner")
            time.sleep(rng.uniform(0.0, 0.6))
            if pool.find(h.is_succeeded(q)):
                raise h.test_failure(f"{q} finished before kill {k}: make the query slower (--stall)")
            mark = pool.mark()
            killed_at = pool.kill(owner)
            h.log(f"[{h.now_text()}] kill {k}: SIGKILL {owner}")
            take = pool.wait_for(h.is_takeover(q), bound + 20, f"another worker to take {q} over from {owner}",
                                 since=mark)
            frm, lapsed = h.takeover_from(take)
            c.check(frm == owner, f"kill {k}: {take.worker} took {q} over from the killed {owner}", f"from {frm}")
            res = pool.wait_for(h.is_resumed(q, take.worker), 30, f"{take.worker} to resume {q}", since=take.seq)
            dt_take, dt_res = take.at - killed_at, res.at - killed_at
            takeover_s.append(dt_take)
            resume_s.append(dt_res)
            c.check(dt_take <= bound, f"kill {k}: taken over {dt_take:.3f} s after the kill (bound {bound:.1f} s)")
            c.figure(f"takeover {k}", f"{owner} -> {take.worker}: took over after {dt_take:.3f} s "
                     f"(lease lapsed {lapsed} ms before), resumed after {dt_res:.3f} s ({res.text})")
            handovers.append((owner, take.worker))
            owner = take.worker
            pool.start()  # three alive again

        succeeded = pool.wait_for(h.is_succeeded(q), 180, f"{q} to succeed")
        query_s = time.monotonic() - query_started
        c.check(succeeded.worker == owner, f"the last owner {owner} committed the result", succeeded.worker)
        pool.wait_for(h.is_delivered(q), 30, f"{q}'s result to be delivered")
        got = out.read_bytes() if out.is_file() else b""
        want = expected.read_bytes()
        c.check(got == want, "the result equals the fault-free run's CSV byte for byte",
                f"{len(got)} bytes vs {len(want)}")
        c.check(len(pool.select(h.is_delivered(q))) == 1, "the result was delivered once")

        st = h.status(args.ftq, store, q)
        result = st.get("result") or {}
        c.check(st.get("state") == "succeeded", "ftq status --json: the query succeeded", st.get("state"))
        c.check(result.get("committed_by") == owner, "ftq status --json: committed by the last owner",
                str(result.get("committed_by")))
        c.check(result.get("sha256") == h.file_sha256(expected), "ftq status --json: the result's sha256 is the "
                "expected CSV's", str(result.get("sha256")))
        history = st.get("history") or []
        moves = [(e.get("from"), e.get("to")) for e in history if e.get("from") and e.get("to")]
        for frm, to in handovers:
            c.check((frm, to) in moves, f"the history lists the handover {frm} -> {to}", str(moves))
        c.check(len(moves) == len(handovers), f"the history lists {len(handovers)} handovers, no others", str(moves))
        succ = [e for e in history if e.get("why") == "succeeded"]
        c.check(len(succ) == 1 and succ[0].get("from") == owner, "the history has one 'succeeded' entry, by the "
                "last owner", str(succ))
        c.check(len(pool.select(h.is_takeover(q))) == len(handovers), "no worker took the query from a live owner",
                str(pool.select(h.is_takeover(q))))
        trouble = pool.select(h.is_trouble(q))
        c.check(not trouble, "no worker logged a failure, a lost lease or a refused commit", str(trouble))
        c.check(not pool.deaths(), "no worker died unless the test killed it", pool.deaths().strip())

        if takeover_s:
            c.figure("takeover times (kill -> took over)", " ".join(f"{t:.3f}" for t in takeover_s) +
                     f" s; max {max(takeover_s):.3f} s (bound {bound:.1f} s)")
            c.figure("resume times (kill -> resumed)", " ".join(f"{t:.3f}" for t in resume_s) + " s")
        c.figure("query wall time", f"{query_s:.1f} s with {len(handovers)} kills")
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
