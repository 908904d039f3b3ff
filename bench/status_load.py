#!/usr/bin/env python3
"""Load on the status endpoint while a 10M-row query runs (docs/benchmarks.md, "status_load").

Part 1, full load: wrk (-t1, 32 keep-alive connections) on /status, then on /metrics, of an
`ftq run --status` whose query is running; requests per second and the p99 latency (targets:
>= 20,000 req/s on /status, p99 <= 5 ms). Each wrk window lies inside one query: wrk starts once
the endpoint listens and the run counts only if the query was still running when wrk ended. The
query's result must equal the fault-free run's CSV byte for byte.

Part 2, monitoring load: the query's time with the endpoint on and 20 requests/s (one scraper on
/metrics and four dashboards on /status, each at 4/s, over keep-alive connections) against the
endpoint on and idle (target: at most 2% slower), and the endpoint off against on and idle.
Rounds of three runs (off, idle, load) in a rotating order, so the machine's drift hits every
arm; the figure is the median over rounds of the per-round ratio.

Python 3 standard library and wrk (Debian package) only.
"""
import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TARGET_RPS = 20000.0
TARGET_P99_MS = 5.0
TARGET_MONITOR_RATIO = 1.02


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_average():
    return os.getloadavg()[0]


# ---------------------------------------------------------------------------------------------
# ftq runs


class ftq_run:
    """One `ftq run` in the background; its stderr is read as it comes (URL, result line)."""

    RESULT = re.compile(r"^(\S+): (\d+) rows -> .* in ([0-9.]+)s$")

    def __init__(self, args, plan, data, out, status):
        cmd = [args.ftq, "run", plan, "--data", data, "--out", out, "--progress", "never"]
        if status:
            cmd += ["--status", "127.0.0.1:0", "--status-linger", "0"]
        if args.pin:
            cmd = ["taskset", "-c", "0"] + cmd
        self.cmd = cmd
        self.out = out
        self.lines = []
        self.url = None
        self.listening = threading.Event()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.lines.append(line)
            m = re.search(r"status: (http://\S+/)", line)
            if m and self.url is None:
                self.url = m.group(1)
                self.listening.set()
        self.listening.set()  # the process ended: nobody waits forever

    def wait_listening(self, timeout=30):
        if not self.listening.wait(timeout) or self.url is None:
            raise RuntimeError("no status URL from %s; stderr: %s" % (" ".join(self.cmd), self.lines))
        return self.url

    def running(self):
        return self.proc.poll() is None

    def finish(self, timeout=600):
        """Waits for the exit; returns (elapsed_s as the query measured it, rows). Sets cpu_s: the
        process' user + system time, which other work on the machine disturbs less than the
        elapsed time."""
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.ended = time.monotonic()
        rc = self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s = usage.ru_utime + usage.ru_stime
        self.reader.join()
        if rc != 0:
            raise RuntimeError("%s exited %d: %s" % (" ".join(self.cmd), rc, "\n".join(self.lines)))
        for line in self.lines:
            m = self.RESULT.match(line)
            if m:
                return float(m.group(3)), int(m.group(2))
        raise RuntimeError("no result line from %s: %s" % (" ".join(self.cmd), self.lines))


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


# ---------------------------------------------------------------------------------------------
# Part 1: wrk


def parse_duration_ms(text):
    m = re.match(r"([0-9.]+)(us|ms|s|m)$", text)
    if not m:
        raise ValueError("unparsed wrk latency: " + text)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def parse_wrk(text):
    r = {"raw": text}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    r["rps"] = float(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, text, re.M)
        r["p%s_ms" % pct] = parse_duration_ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([0-9.]+\w+), ([0-9.]+\w+) read", text)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non_2xx"] = int(m.group(1)) if m else 0
    return r


def full_load(args, plan, data, work, reference, window_s):
    results = {}
    for path in ("status", "metrics"):
        samples = []
        attempt = 0
        while len(samples) < args.windows:
            attempt += 1
            if attempt > args.windows * 3:
                raise RuntimeError("/%s: too few wrk windows fit inside a query; use a longer plan" % path)
            out = os.path.join(work, "full-%s-%d.csv" % (path, attempt))
            run = ftq_run(args, plan, data, out, status=True)
            url = run.wait_listening() + path
            cmd = ["wrk", "-t1", "-c%d" % args.connections, "-d%ds" % window_s, "--latency", url]
            if args.pin:
                cmd = ["taskset", "-c", "1"] + cmd
            wrk = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wrk_ended = time.monotonic()
            still_running = run.running()
            elapsed, rows = run.finish()
            correct = same_file(out, reference)
            os.remove(out)
            if not correct:
                raise RuntimeError("/%s under full load: the result differs from the fault-free run's" % path)
            sample = parse_wrk(wrk.stdout)
            sample.update(query_s=elapsed, rows=rows, result_equal=correct, inside_query=still_running)
            if not still_running:
                log("  /%s: the query ended before wrk did (%.2fs): window dropped" % (path, elapsed))
                continue
            samples.append(sample)
            log("  /%s: %.0f req/s, p99 %.2f ms, p50 %.2f ms, errors %d, non-2xx %d; query %.2fs, result equal" %
                (path, sample["rps"], sample["p99_ms"], sample["p50_ms"], sample["socket_errors"], sample["non_2xx"],
                 elapsed))
        results[path] = samples
    return results


# ---------------------------------------------------------------------------------------------
# Part 2: monitoring load


class paced_client(threading.Thread):
    """GETs `path` `rate` times a second on one keep-alive connection, on a fixed schedule."""

    def __init__(self, url, path, rate, phase_s, stop):
        super().__init__(daemon=True)
        m = re.match(r"http://([^:/]+):(\d+)/", url)
        self.host, self.port = m.group(1), int(m.group(2))
        self.path, self.period, self.phase, self.stop = "/" + path, 1.0 / rate, phase_s, stop
        self.done = self.failed = 0

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        start = time.monotonic() + self.phase
        k = 0
        while not self.stop.is_set():
            delay = start + k * self.period - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                break
            k += 1
            try:
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    self.done += 1
                else:
                    self.failed += 1
            except (OSError, http.client.HTTPException):
                # The server stops with the query: the last request may meet a closed socket.
                self.failed += 1
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        conn.close()


def monitored_run(args, plan, data, out, arm):
    run = ftq_run(args, plan, data, out, status=(arm != "off"))
    clients = []
    stop = threading.Event()
    if arm == "load":
        url = run.wait_listening()
        # One Prometheus scraper and four dashboards, phases spread so requests do not bunch.
        clients = [paced_client(url, "metrics", args.rate, 0.0, stop)]
        clients += [paced_client(url, "status", args.rate, (i + 1) / (5.0 * args.rate), stop) for i in range(4)]
        for c in clients:
            c.start()
    elapsed, rows = run.finish()
    wall = run.ended - run.started
    stop.set()
    for c in clients:
        c.join()
    return elapsed, wall, run.cpu_s, sum(c.done for c in clients), sum(c.failed for c in clients)


def monitoring_load(args, plan, data, work, reference):
    arms = ["off", "idle", "load"]
    runs = {a: [] for a in arms}
    rounds = []
    for r in range(args.rounds):
        order = arms[r % 3:] + arms[:r % 3]
        this = {}
        for arm in order:
            out = os.path.join(work, "monitor-%s.csv" % arm)
            elapsed, wall, cpu, ok, failed = monitored_run(args, plan, data, out, arm)
            if not same_file(out, reference):
                raise RuntimeError("monitoring run (%s): the result differs from the fault-free run's" % arm)
            os.remove(out)
            rps = ok / elapsed if arm == "load" else 0.0
            runs[arm].append({"query_s": elapsed, "wall_s": wall, "cpu_s": cpu, "requests": ok,
                              "failed_requests": failed, "request_rate": rps})
            this[arm] = (elapsed, cpu)
        rounds.append({"order": order, **{a + "_s": this[a][0] for a in arms}, **{a + "_cpu_s": this[a][1] for a in arms}})
        log("  round %d (%s): off %.3fs, idle %.3fs, load %.3fs (%d requests, %.1f/s); cpu %.3f, %.3f, %.3f s" %
            (r + 1, ",".join(order), this["off"][0], this["idle"][0], this["load"][0], runs["load"][-1]["requests"],
             runs["load"][-1]["request_rate"], this["off"][1], this["idle"][1], this["load"][1]))
    return runs, rounds


# ---------------------------------------------------------------------------------------------


def dist(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def ensure_data(args):
    lineitem = os.path.join(args.data, "lineitem.csv")
    if os.path.exists(lineitem) and os.path.exists(os.path.join(args.data, "orders.csv")):
        return
    log("generating %d rows into %s" % (args.rows, args.data))
    subprocess.run([args.ftq, "gen", "--rows", str(args.rows), "--seed", "42", "--out", args.data], check=True,
                   stdout=subprocess.DEVNULL)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ftq", required=True, help="a release build's ftq binary (BUILD/src/cli/ftq)")
    p.add_argument("--data", help="data directory, generated once if empty (default: BUILD/status-load-data)")
    p.add_argument("--rows", type=int, default=10_000_000, help="lineitem rows to generate (default 10M)")
    p.add_argument("--plans", default="q1,join", help="example plans (examples/plans/NAME.json), default q1,join")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--window-s", type=int, default=0, help="seconds per wrk window, inside one query (default: "
                   "the fault-free query time, rounded down, at least 1)")
    p.add_argument("--windows", type=int, default=10, help="wrk windows per endpoint (default 10: 10 s of load)")
    p.add_argument("--rounds", type=int, default=15, help="rounds of off/idle/load runs in part 2 (default 15)")
    p.add_argument("--rate", type=float, default=4.0, help="requests/s of each of the 5 monitoring clients")
    p.add_argument("--parts", default="1,2", help="which parts to run (default 1,2)")
    p.add_argument("--pin", action="store_true", help="taskset: ftq on CPU 0, wrk on CPU 1")
    p.add_argument("--json", help="write every figure and every sample here")
    args = p.parse_args()
    args.ftq = os.path.abspath(args.ftq)
    if args.data is None:
        args.data = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(args.ftq))), "status-load-data")
    parts = set(args.parts.split(","))
    if "1" in parts and shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk (scripts/setup-deps)")

    ensure_data(args)
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_start": load_average()},
              "config": dict(vars(args)), "plans": {}}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ftq-status-load-") as work:
        for name in args.plans.split(","):
            plan = os.path.join(os.path.dirname(here), "examples", "plans", name + ".json")
            r = report["plans"][name] = {}
            reference = os.path.join(work, name + "-reference.csv")
            # The first run warms the page cache, so every measured run reads the CSV from memory.
            for _ in range(2):
                base_s, base_rows = ftq_run(args, plan, args.data, reference, status=False).finish()
            log("%s: fault-free, endpoint off: %d rows in %.3fs" % (name, base_rows, base_s))
            r["reference"] = {"query_s": base_s, "rows": base_rows}
            # wrk takes whole seconds; under load the query runs longer than this.
            window_s = r["window_s"] = args.window_s or max(1, int(base_s))
            if "1" in parts:
                log("%s part 1: wrk -t1 -c%d, %d windows of %ds per endpoint" %
                    (name, args.connections, args.windows, window_s))
                r["full_load"] = full_load(args, plan, args.data, work, reference, window_s)
            if "2" in parts:
                log("%s part 2: %d rounds of off / idle / load (%g requests/s)" % (name, args.rounds, 5 * args.rate))
                runs, rounds = monitoring_load(args, plan, args.data, work, reference)
                r["monitoring"] = {"runs": runs, "rounds": rounds}
    report["machine"]["load_end"] = load_average()
    report["seconds"] = time.monotonic() - t0

    print_table(report, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0  # a missed target is a finding, not a failure; a wrong result raised above


def print_table(report, args):
    m = report["machine"]
    print("status endpoint under load: %d-row data, %d CPUs, load average %.1f at the start, %.1f at the end, %.0fs" %
          (args.rows, m["cpus"], m["load_start"], m["load_end"], report["seconds"]))
    for name, r in report["plans"].items():
        print()
        print("== %s (fault-free, endpoint off: %.3fs)" % (name, r["reference"]["query_s"]))
        if "full_load" in r:
            print_full_load(r, args, r["window_s"])
        if "monitoring" in r:
            print_monitoring(r)
    met = [t["met"] for r in report["plans"].values() for t in r.get("targets", [])]
    report["targets_met"] = all(met)


def target(r, what, met, value):
    r.setdefault("targets", []).append({"target": what, "met": met, "value": value})
    return "%s: %s (%s)" % (what, "met" if met else "MISSED", value)


def print_full_load(r, args, window_s):
    print("Part 1: full load, wrk -t1 -c%d, %d windows of %ds, each inside a running query; median [min, max]" %
          (args.connections, args.windows, window_s))
    print("%-9s %26s %26s %8s %7s %7s %20s" % ("endpoint", "req/s", "p99 ms", "p50 ms", "errors", "non-2xx",
                                              "query s under load"))
    summary = {}
    for path, samples in r["full_load"].items():
        rps = dist([s["rps"] for s in samples])
        p99 = dist([s["p99_ms"] for s in samples])
        p50 = dist([s["p50_ms"] for s in samples])
        q = dist([s["query_s"] for s in samples])
        summary[path] = {"rps": rps, "p99_ms": p99, "p50_ms": p50, "query_s": q}
        print("/%-8s %8.0f [%7.0f, %7.0f] %8.2f [%6.2f, %6.2f] %8.2f %7d %7d %8.3f [%.3f, %.3f]" %
              (path, rps["median"], rps["min"], rps["max"], p99["median"], p99["min"], p99["max"], p50["median"],
               sum(s["socket_errors"] for s in samples), sum(s["non_2xx"] for s in samples), q["median"], q["min"],
               q["max"]))
    r["full_load_summary"] = summary
    st = summary.get("status")
    if st:
        print("targets on /status: " +
              target(r, ">= %d req/s" % TARGET_RPS, st["rps"]["median"] >= TARGET_RPS, "%.0f" % st["rps"]["median"]) +
              "; " + target(r, "p99 <= %g ms" % TARGET_P99_MS, st["p99_ms"]["median"] <= TARGET_P99_MS,
                            "%.2f ms" % st["p99_ms"]["median"]))
    print("every query under load returned the fault-free result (CSV byte for byte)")


def print_monitoring(r):
    m = r["monitoring"]
    rounds = m["rounds"]
    med = {a: statistics.median([x[a + "_s"] for x in rounds]) for a in ("off", "idle", "load")}
    cpu = {a: statistics.median([x[a + "_cpu_s"] for x in rounds]) for a in ("off", "idle", "load")}
    load_ratio = dist([x["load_s"] / x["idle_s"] for x in rounds])
    idle_ratio = dist([x["idle_s"] / x["off_s"] for x in rounds])
    load_cpu = dist([x["load_cpu_s"] / x["idle_cpu_s"] for x in rounds])
    idle_cpu = dist([x["idle_cpu_s"] / x["off_cpu_s"] for x in rounds])
    rate = statistics.median([x["request_rate"] for x in m["runs"]["load"]])
    cut = sum(x["failed_requests"] for x in m["runs"]["load"])
    print("Part 2: query time, %d rounds of three runs in a rotating order; median [min, max]" % len(rounds))
    print("%-26s %8s %31s %8s %31s" % ("arm", "query s", "per-round ratio", "CPU s", "per-round CPU ratio"))
    print("%-26s %8.3f %31s %8.3f" % ("endpoint off", med["off"], "", cpu["off"]))
    for arm, label, ratio, cratio, to in (("idle", "endpoint on, idle", idle_ratio, idle_cpu, "off"),
                                          ("load", "endpoint on, %.1f req/s" % rate, load_ratio, load_cpu, "idle")):
        print("%-26s %8.3f %8.4f [%.4f, %.4f] to %-4s %8.3f %8.4f [%.4f, %.4f] to %s" %
              (label, med[arm], ratio["median"], ratio["min"], ratio["max"], to, cpu[arm], cratio["median"],
               cratio["min"], cratio["max"], to))
    print("(%d requests cut off by the endpoint closing when its query ended)" % cut)
    print("target: " + target(r, "load / idle <= %.2f" % TARGET_MONITOR_RATIO, load_ratio["median"] <=
                              TARGET_MONITOR_RATIO, "%.4f" % load_ratio["median"]))
    m["summary"] = {"median_s": med, "load_vs_idle": load_ratio, "idle_vs_off": idle_ratio, "median_cpu_s": cpu,
                    "cpu_load_vs_idle": load_cpu, "cpu_idle_vs_off": idle_cpu, "request_rate": rate,
                    "requests_cut_off": cut}


if __name__ == "__main__":
    sys.exit(main())
