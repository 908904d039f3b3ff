#!/usr/bin/env python3
"""Drives one run of examples/embed over HTTP and checks what it reports.

  check_embed.py finish EXPECTED.json -- EMBED ARGS...
      waits until every query has ended, then checks /healthz, /status and /metrics against
      EXPECTED ({plan name: result rows}, from `ftq run` on the same data) and the program's own
      lines, sends SIGINT and checks that it exits 0 within a few seconds.
  check_embed.py interrupt NAME -- EMBED ARGS...
      sends SIGINT while query NAME is midway and checks that it stops promptly, exits 0 and
      says so (its final checkpoint is what a `resume` run then starts from).
  check_embed.py resume EXPECTED.json -- EMBED ARGS...
      like finish, and also checks that every query resumed from an earlier run's checkpoint.

Python standard library only. Prints one line per check and exits 1 at the first failure.
"""
import json
import select
import signal
import subprocess
import sys
import time
import urllib.request

START_TIMEOUT_S = 20  # until the status URL is printed
QUERY_TIMEOUT_S = 60  # until every query has ended (an -O0 build on a busy 2-core machine)
EXIT_TIMEOUT_S = 5  # from SIGINT to the process' exit
TERMINAL = ("succeeded", "failed", "cancelled")


class check_failed(Exception):
    pass


def ok(what):
    print("ok:", what, flush=True)


def expect(cond, what, detail=""):
    if not cond:
        raise check_failed(what + (": " + detail if detail else ""))
    ok(what)


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def start(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The first line comes once the server is listening.
    ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("status: http://"):
        proc.kill()
        raise check_failed("first line should be 'status: URL', got %r; stderr: %s" % (line, proc.stderr.read()))
    url = line.split()[1]
    ok("listening at " + url)
    return proc, url


def poll(url, until, what, timeout=QUERY_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(get(url + "status")[2])
        if until(status):
            return status
        if time.monotonic() > deadline:
            raise check_failed("timed out after %ds waiting for %s; last /status: %s" % (timeout, what, status))
        time.sleep(0.05)


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise check_failed("still running %ds after SIGINT" % EXIT_TIMEOUT_S)
    expect(proc.returncode == 0, "exit status 0 after SIGINT", "got %d; stderr: %s" % (proc.returncode, err))
    expect("shutting down" in err, "said it was shutting down", repr(err))
    return out


def finish(expected, cmd, want_resumed):
    proc, url = start(cmd)
    try:
        code, ctype, body = get(url + "healthz")
        health = json.loads(body)
        expect(code == 200 and ctype.startswith("application/json") and health.get("status") == "ok",
               "/healthz answers ok", body)
        status = poll(url, lambda s: len(s["queries"]) == len(expected)
                      and all(q["state"] in TERMINAL for q in s["queries"]), "every query to end")
        expect(status["engine"]["io_backend"] in ("io_uring", "threads"), "/status names the checkpoint I/O backend",
               status["engine"]["io_backend"])
        expect(status["engine"]["queries_running"] == 0, "no query still running")
        by_name = {q["name"]: q for q in status["queries"]}
        expect(sorted(by_name) == sorted(expected), "/status lists every plan", str(sorted(by_name)))
        for name, rows in sorted(expected.items()):
            q = by_name[name]
            expect(q["state"] == "succeeded", name + " succeeded", q["state"] + " " + q["error"])
            expect(q["rows_out"] == rows, "%s: %d result rows as `ftq run` wrote" % (name, rows), str(q["rows_out"]))
            progress = "%s of %s rows, %s%%" % (q["rows_done"], q["rows_total"], q["percent"])
            if want_resumed:
                # A resumed query scans only what its checkpoint had not covered.
                expect(q["percent"] == 100, name + ": 100% done", progress)
            else:
                expect(q["percent"] == 100 and q["rows_done"] == q["rows_total"] > 0, name + ": all its input",
                       progress)
            expect(q["checkpoint"] is not None, name + " took checkpoints through the manager")
            if want_resumed:
                expect(q["fault_tolerance"]["resumed"], name + " resumed from the earlier run's checkpoint")
        metrics = get(url + "metrics")[2]
        line = 'ftq_queries_total{outcome="succeeded"} %d' % len(expected)
        expect(line in metrics.splitlines(), "/metrics: " + line)
        out = stop(proc)
        for name, rows in expected.items():
            expect(any(l.startswith("%s: %d rows in " % (name, rows)) for l in out.splitlines()),
                   "printed '%s: %d rows'" % (name, rows), out)
    finally:
        if proc.poll() is None:
            proc.kill()


def interrupt(name, cmd):
    proc, url = start(cmd)
    try:
        def midway(s):
            q = [q for q in s["queries"] if q["name"] == name]
            if q and q[0]["state"] in TERMINAL:
                raise check_failed("%s ended (%s) before it could be interrupted: give it more rows" %
                                   (name, q[0]["state"]))
            return q and 0 < q[0]["percent"] < 80

        status = poll(url, midway, name + " to be under way")
        q = [q for q in status["queries"] if q["name"] == name][0]
        ok("%s running, %.0f%% done" % (name, q["percent"]))
        out = stop(proc)
        expect(name + ": stopped; run again to resume" in out, "printed that %s stopped" % name, out)
    finally:
        if proc.poll() is None:
            proc.kill()


def main(argv):
    if len(argv) < 5 or argv[1] not in ("finish", "interrupt", "resume") or argv[3] != "--":
        sys.exit(__doc__)
    mode, arg, cmd = argv[1], argv[2], argv[4:]
    try:
        if mode == "interrupt":
            interrupt(arg, cmd)
        else:
            with open(arg) as f:
                expected = json.load(f)
            finish(expected, cmd, mode == "resume")
    except check_failed as e:
        print("FAIL:", e, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv)
