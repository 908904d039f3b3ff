#!/usr/bin/env python3
"""A stand-in for ftq's status endpoint: serves the dashboard page and /status, /failures in the
form docs/status-endpoint.md gives, from five simulated queries (no engine), with the cluster view
of a worker sharing a checkpoint store (so the dashboard's Cluster card shows).

  fake_status_server.py PAGE [--port 0] [--scenario live|finished|broken|no-cluster] [--speed X]

live: the queries progress over about 40 s (divided by --speed) with failures along the way and
finish (topk without checkpoints, distinct failing at 90%, so that the page's forms for a null
checkpoint and a failed query are shown too); finished: as live once every query is done; broken: /status and /failures answer 500;
no-cluster: as finished without a cluster view ("cluster": null, /cluster 404)
(the dashboard must show its error banner). Prints `status: http://127.0.0.1:PORT/` on stderr
once listening, as `ftq demo --status` does. dashboard_test.py uses it for the error banner and
for its own self-test (--fake)."""
import argparse
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# name, priority, rows_total, duration (s), operators (name, plan_path, children), failures
# (time as a fraction of the run, operator id, class, recovery)
QUERIES = [
    ("q1", 1, 100000, 30.0, [("csv_scan", "input.input", []), ("filter", "input", [0]), ("hash_aggregate", "", [1])],
     [(0.20, 0, "transient", "retry"), (0.45, 2, "operator_fault", "restore_operator")]),
    ("q6", 1, 100000, 18.0, [("csv_scan", "input.input", []), ("filter", "input", [0]), ("aggregate", "", [1])],
     [(0.60, 1, "transient", "retry")]),
    ("join", 2, 125000, 40.0, [("csv_scan", "input.build", []), ("csv_scan", "input.probe", []),
                               ("hash_join", "input", [0, 1]), ("hash_aggregate", "", [2])],
     [(0.15, 2, "operator_fault", "restore_operator"), (0.35, 1, "stall", "restore_operator"),
      (0.50, 2, "transient", "retry"), (0.70, 2, "operator_fault", "restart_pipeline")]),
    ("topk", 1, 100000, 24.0, [("csv_scan", "input.input", []), ("project", "input", [0]), ("top_k", "", [1])], []),
    ("distinct", 1, 100000, 33.0, [("csv_scan", "input.input", []), ("distinct", "", [0])],
     [(0.30, 0, "checkpoint", "retry"), (0.85, 1, "resource", "retry"), (0.89, 1, "resource", "retry")]),
]
CHECKPOINT_EVERY = 0.125  # of the run: eight checkpoints per query, as the demo takes
NO_CHECKPOINTS = "topk"    # shows the page without checkpoints ("checkpoint": null)
FAILS_AT = ("distinct", 0.9)  # shows a failed query: it ends there with an error


class Simulation:
    def __init__(self, scenario, speed):
        self.scenario = scenario
        self.speed = speed
        now = time.time()
        # A finished run ended a while ago; a live one starts now.
        longest = max(q[3] for q in QUERIES) / speed
        self.t0 = now - longest - 5.0 if scenario != "live" else now
        self.started_ms = int(self.t0 * 1000) - 1500

    def query(self, index, now):
        name, prio, total, duration, ops, failures = QUERIES[index]
        duration /= self.speed
        start = self.t0 + 0.1 * index
        elapsed = max(0.0, now - start)
        frac = min(1.0, elapsed / duration)
        failed = name == FAILS_AT[0] and frac >= FAILS_AT[1]
        if failed:
            frac = FAILS_AT[1]
        run_s = frac * duration  # how long it has run (it stops at frac 1, or where it fails)
        done = frac >= 1.0 or failed
        checkpoints = name != NO_CHECKPOINTS
        rows = int(total * frac)
        seen = [f for f in failures if f[0] <= frac]
        n_ckpt = int(frac / CHECKPOINT_EVERY + 1e-9) if checkpoints else 0
        ck_id = "%s-%016x" % (name, 0x0123456789ABCDEF ^ (index * 0x1111)) if checkpoints else ""
        last = None
        if n_ckpt > 0:
            t_last = start + n_ckpt * CHECKPOINT_EVERY * duration
            raw = 40000 + 9000 * index + 1200 * n_ckpt
            last = {"epoch": n_ckpt, "age_s": round(max(0.0, now - t_last), 3), "raw_bytes": raw,
                    "stored_bytes": raw // 4 + 321, "kind": "full" if n_ckpt == 1 else "delta", "commit_s": 0.004}
        restores = sum(1 for f in seen if f[3] == "restore_operator")
        restarts = sum(1 for f in seen if f[3] == "restart_pipeline")
        retries = sum(1 for f in seen if f[3] == "retry")
        stalls = sum(1 for f in seen if f[2] == "stall")
        ft = {"failures": len(seen), "retries": retries, "operator_restores": restores, "pipeline_restarts": restarts,
              "stalls": stalls, "handler_runs": 0, "handler_failures": 0, "rows_replayed": 4096 * (restores + restarts),
              "states_restored": restores, "backoff_s": 0.1 * retries, "restore_s": 0.01 * restores,
              "recovery_s": 0.12 * len(seen), "resumed": False, "resumed_epoch": 0}
        operators = []
        for op_id, (op_name, path, children) in enumerate(ops):
            is_scan = not children
            op_rows = rows if is_scan else (rows // (3 if op_name in ("filter", "hash_join") else 1))
            if op_id == len(ops) - 1 and op_name in ("hash_aggregate", "aggregate", "top_k", "distinct"):
                out = (4 if op_name != "top_k" else 10) if done else 0
            else:
                out = op_rows
            op_fail = [f for f in seen if f[1] == op_id]
            op_state = ("failed" if failed else "finished") if done else ("running" if elapsed > 0 else "idle")
            breaker = "closed"
            if not done and op_fail and frac - op_fail[-1][0] < 0.05:
                op_state = "backing_off" if op_fail[-1][3] == "retry" else "recovering"
                breaker = "half_open" if op_fail[-1][3] == "retry" else "open"
            operators.append({
                "id": op_id, "name": op_name, "plan_path": path, "children": children, "state": op_state,
                "rows_in": 0 if is_scan else rows, "rows_out": out, "batches_out": (out + 4095) // 4096,
                "failures": len(op_fail), "breaker": breaker, "failure_rate": round(0.02 * len(op_fail), 3),
                "phi": 0.0 if done else round(0.3 + 0.1 * op_id, 2), "retry_attempts_left": 5 - min(5, len(op_fail)),
                "last_checkpoint": None if last is None else {
                    "epoch": last["epoch"], "age_s": last["age_s"], "raw_bytes": 800 + 100 * op_id + 7 * n_ckpt,
                    "stored_bytes": 300 + 50 * op_id, "kind": "delta" if n_ckpt > 1 and is_scan else "full"},
            })
        return {
            "id": index + 1, "name": name, "state": ("failed" if failed else "succeeded") if done else "running",
            "error": "operator 1 (distinct): out of memory: retries exhausted after 5 attempts" if failed else "",
            "priority": prio,
            "checkpoint_id": ck_id, "rows_done": rows, "rows_total": total, "bytes_done": rows * 120,
            "bytes_total": total * 120, "rows_out": operators[-1]["rows_out"], "percent": round(100.0 * frac, 4),
            "started_unix_ms": int(start * 1000), "finished_unix_ms": int((start + run_s) * 1000) if done else None,
            "elapsed_s": round(min(elapsed, run_s), 3),
            "eta_s": None if done or frac == 0 else round(elapsed / frac - elapsed, 3),
            "fault_tolerance": ft, "retry_budget_left": round(20.0 - 1.5 * len(seen), 1),
            "recovery_policy": "transient=retry,operator_fault=restore_operator,stall=restore_operator",
            "checkpoint": None if not checkpoints else {
                "backend": "io_uring", "commits": n_ckpt, "deltas": max(0, n_ckpt - 1),
                "failures": sum(1 for f in seen if f[2] == "checkpoint"), "last": last, "last_error": "",
                "interval": {"adaptive": True, "interval_s": round(duration * CHECKPOINT_EVERY, 3), "cost_s": 0.004,
                             "mtbf_s": 3600.0 if not seen else round(elapsed / len(seen), 3), "failures": len(seen),
                             "observed_s": round(min(elapsed, run_s), 3), "formula": "daly"},
            },
            "operators": operators,
        }, [(start + f[0] * duration, f) for f in seen], ck_id or name

    def status(self):
        now = time.time()
        queries = [self.query(i, now)[0] for i in range(len(QUERIES))]
        running = [q for q in queries if q["state"] == "running"]
        finished = [q for q in queries if q["state"] != "running"]
        return {
            "engine": {"version": "0.1.0", "io_backend": "io_uring", "io_backend_reason": "probe passed",
                       "started_unix_ms": self.started_ms, "now_unix_ms": int(now * 1000),
                       "uptime_s": round(now - self.started_ms / 1000, 3), "concurrency": 1, "batch_rows": 4096,
                       "queries_running": len(running)},
            "queries": running + finished,
            "cluster": self.cluster(),
        }

    def cluster(self):
        """Fixed times (relative to the start), so that two answers agree: q1's lease runs for an
        hour, distinct's lapsed when worker-c died and worker-a took it over."""
        if self.scenario == "no-cluster":
            return None

        def iso(t):
            ms = int(round(t * 1000))
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)

        t = self.t0
        return {
            "worker": "worker-a", "store": "rados://ftq/jobs", "takeovers": 2, "leases_held": 1, "fenced_commits": 1,
            "queries": [
                {"id": "q1-jobs", "state": "running", "owner": "worker-a", "lease_until": iso(t + 3600.25),
                 "lease_current": True, "last_epoch": 7, "error": "", "result": None,
                 "history": [{"at": iso(t + 0.5), "from": "", "to": "worker-b", "why": "first owner"},
                             {"at": iso(t + 4.125), "from": "worker-b", "to": "worker-a",
                              "why": "took over: lease of worker-b lapsed"}]},
                {"id": "q6-jobs", "state": "succeeded", "owner": "worker-b", "lease_until": iso(t + 9.0),
                 "lease_current": False, "last_epoch": 3, "error": "",
                 "result": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "bytes": 120,
                            "rows": 4, "committed_by": "worker-b", "committed_at": iso(t + 8.5)},
                 "history": [{"at": iso(t + 0.25), "from": "", "to": "worker-b", "why": "first owner"},
                             {"at": iso(t + 8.5), "from": "worker-b", "to": "", "why": "succeeded"}]},
                {"id": "join-jobs", "state": "queued", "owner": "", "lease_until": None, "lease_current": False,
                 "last_epoch": None, "error": "", "result": None, "history": []},
                {"id": "distinct-jobs", "state": "failed", "owner": "worker-a", "lease_until": iso(t + 12.0),
                 "lease_current": False, "last_epoch": 0,
                 "error": "operator 1 (distinct): out of memory: retries exhausted after 5 attempts", "result": None,
                 "history": [{"at": iso(t + 1.0), "from": "", "to": "worker-c", "why": "first owner"},
                             {"at": iso(t + 6.75), "from": "worker-c", "to": "worker-a",
                              "why": "took over: lease of worker-c lapsed"},
                             {"at": iso(t + 11.0), "from": "worker-a", "to": "",
                              "why": "failed: operator 1 (distinct): out of memory"}]},
            ],
        }

    def failures(self, limit):
        now = time.time()
        records = []
        for i in range(len(QUERIES)):
            _, seen, ck_id = self.query(i, now)
            ops = QUERIES[i][4]
            for t, (frac, op_id, cls, recovery) in seen:
                records.append({"time_unix_ms": int(t * 1000), "query": ck_id, "operator_id": op_id,
                                "operator": ops[op_id][0], "class": cls,
                                "message": "injected %s failure in %s" % (cls, ops[op_id][0]), "attempt": 1,
                                "recovery": recovery, "outcome": "recovered"})
        records.sort(key=lambda r: r["time_unix_ms"])
        out = [dict(seq=seq, **r) for seq, r in enumerate(records, 1)]
        total = len(out)
        return {"failures": out[-limit:] if limit else out, "total": total}


def make_handler(page_path, sim, log):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            log.append(self.requestline)

        def send(self, code, body, ctype):
            data = body if isinstance(body, bytes) else body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def error(self, code, message):
            self.send(code, json.dumps({"error": message, "status": code}), "application/json")

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            args = urllib.parse.parse_qs(url.query)
            if url.path == "/":
                with open(page_path, "rb") as f:
                    self.send(200, f.read(), "text/html; charset=utf-8")
            elif sim.scenario == "broken" and url.path in ("/status", "/failures", "/cluster"):
                self.error(500, "the engine is gone (fake_status_server --scenario broken)")
            elif url.path == "/status":
                self.send(200, json.dumps(sim.status()), "application/json")
            elif url.path == "/failures":
                try:
                    limit = int(args.get("limit", ["0"])[0])
                except ValueError:
                    return self.error(400, "bad limit")
                self.send(200, json.dumps(sim.failures(limit)), "application/json")
            elif url.path == "/cluster":
                view = sim.cluster()
                if view is None:
                    return self.error(404, "no cluster view: this engine is not a worker sharing a checkpoint store")
                self.send(200, json.dumps(view), "application/json")
            elif url.path == "/healthz":
                self.send(200, json.dumps({"status": "ok", "version": "0.1.0", "uptime_s": 1.0}), "application/json")
            else:
                self.error(404, "unknown path " + url.path)

    return Handler


class FakeServer:
    """The server on a thread of this process (for dashboard_test.py)."""

    def __init__(self, page_path, scenario="finished", speed=1.0):
        self.sim = Simulation(scenario, speed)
        self.requests = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(page_path, self.sim, self.requests))
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--scenario", choices=["live", "finished", "broken", "no-cluster"], default="live")
    ap.add_argument("--speed", type=float, default=1.0)
    a = ap.parse_args()
    sim = Simulation(a.scenario, a.speed)
    httpd = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(a.page, sim, []))
    print("status: http://127.0.0.1:%d/" % httpd.server_address[1], file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
