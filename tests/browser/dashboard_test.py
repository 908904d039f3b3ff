#!/usr/bin/env python3
"""The dashboard in headless Chromium against a running `ftq demo --status`: what the page shows
must match /status.

  dashboard_test.py [FTQ_BINARY] [--fake] [--screenshot PNG] [--chromium PATH]

FTQ_BINARY defaults to $FTQ_BINARY. --fake runs against fake_status_server.py instead of ftq (to
work on the page without a build). The screenshot goes to --screenshot, else
$FTQ_BUILD_ROOT/dashboard.png, else ./dashboard.png. Python 3 standard library only. Prints
`[browser] N checks passed`, or every failed check and exits 1.

Checks: the page's source points nowhere outside its server, and GET / serves it unchanged. Once
/status shows every query finished, Chromium loads the page for 3.5 s of virtual time (several
polls) and its DOM must show every query of /status, in order, with the same state, rows, percent
(to 0.1), failures, retries, restores, stalls, checkpoint (epoch, kind, sizes, an age that fits
the time between the page's poll and ours, interval), failures over time as /failures has them,
and per operator its state, rows in and out, failures, breaker and checkpoint; with a cluster view
in /status (the fake server's; ftq demo has none) a Cluster card with the worker, store, counters
and per store query its state, owner, lease (left or lapsed), epoch, takeovers, error, result and
every handover, and without one no Cluster card; no error banner;
no request outside the server and no script error (from Chromium's network and console logs).
The screenshot is a 1280x900 PNG. Against a server whose /status answers 500 the page shows its
error banner and keeps polling. ftq demo exits 0 or 143 on SIGTERM."""
import argparse
import calendar
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "..", "..", "src", "status", "dashboard", "index.html")
sys.path.insert(0, HERE)
import fake_status_server  # noqa: E402

FINISHED = ("succeeded", "failed", "cancelled")
WINDOW = (1280, 900)
URL_ATTRS = ("src", "href", "action", "formaction", "srcset", "poster", "data", "xlink:href", "background")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Failed(Exception):
    pass


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def that(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        return ok

    def equal(self, got, want, what):
        return self.that(got == want, "%s: the page shows %r, /status has %r" % (what, got, want))


# ---- reading the page -------------------------------------------------------------------------

class Shown:
    """One element with data-field: its exact value and the text a person sees."""

    def __init__(self, value):
        self.value = value
        self.parts = []

    @property
    def text(self):
        return " ".join("".join(self.parts).split())


class Scope:
    def __init__(self):
        self.fields = {}
        self.operators = {}  # operator id -> Scope, in page order
        self.handovers = {}  # a cluster query's: index -> Scope, in page order
        self.spark_rects = 0


class DomReader(HTMLParser):
    """The dashboard's DOM (as Chromium dumps it) as scopes: the engine header, each query card
    (data-query-id) and each operator row (data-operator-id) with their data-field values."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.engine = Scope()
        self.queries = {}  # id -> Scope, in page order
        self.cluster = Scope()  # the Cluster card's own fields
        self.cluster_hidden = None
        self.cluster_queries = {}  # store query id -> Scope, in page order
        self.banner_hidden = None
        self.banner_text = []
        self.chart_rects = 0
        self.stack = []  # (tag, context)

    def ctx(self):
        return self.stack[-1][1] if self.stack else {"scope": self.engine, "field": None, "region": None}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        c = dict(self.ctx())
        if "data-query-id" in a:
            c["query"] = self.queries.setdefault(a["data-query-id"], Scope())
            c["scope"] = c["query"]
        if "data-operator-id" in a and "query" in c:
            c["scope"] = c["query"].operators.setdefault(a["data-operator-id"], Scope())
        if a.get("id") == "cluster":
            self.cluster_hidden = "hidden" in a
            c["scope"] = self.cluster
        if "data-cluster-query-id" in a:
            c["cquery"] = self.cluster_queries.setdefault(a["data-cluster-query-id"], Scope())
            c["scope"] = c["cquery"]
        if "data-handover" in a and "cquery" in c:
            c["scope"] = c["cquery"].handovers.setdefault(a["data-handover"], Scope())
        if a.get("id") == "chart":
            c["region"] = "chart"
        if "spark" in (a.get("class") or "").split():
            c["region"] = "spark"
        if a.get("id") == "error-banner":
            self.banner_hidden = "hidden" in a
            c["region"] = "banner"
        if tag == "rect":
            if c["region"] == "chart":
                self.chart_rects += 1
            elif c["region"] == "spark" and "query" in c:
                c["query"].spark_rects += 1
        if "data-field" in a:
            shown = Shown(a.get("data-value", ""))
            c["scope"].fields.setdefault(a["data-field"], shown)
            c["field"] = shown
        if tag not in VOID:
            self.stack.append((tag, c))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        c = self.ctx()
        if c["field"] is not None:
            c["field"].parts.append(data)
        if c["region"] == "banner":
            self.banner_text.append(data)


class AttrReader(HTMLParser):
    """Every URL-valued attribute of the page's source."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls = []
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        for k, v in attrs:
            if k in URL_ATTRS and v is not None:
                self.urls.append((tag, k, v))


# ---- processes --------------------------------------------------------------------------------

class Chromium:
    def __init__(self, path):
        self.path = path

    def run(self, url, extra, timeout=90):
        profile = tempfile.mkdtemp(prefix="ftq-browser-profile-")
        try:
            cmd = [self.path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
                   "--user-data-dir=" + profile, "--window-size=%d,%d" % WINDOW,
                   # Long enough for the page to poll /status three times (virtual time: it does
                   # not wait that long while nothing is pending).
                   "--virtual-time-budget=3500"] + extra + [url]
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise Failed("chromium did not finish within %d s: %s" % (timeout, " ".join(cmd)))
            if p.returncode != 0:
                raise Failed("chromium exited %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[-2000:]))
            return p.stdout.decode("utf-8", errors="replace"), p.stderr.decode("utf-8", errors="replace")
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    def dump_dom(self, url, extra=()):
        return self.run(url, ["--dump-dom"] + list(extra))[0]

    def dump_dom_logged(self, url):
        """The DOM, the URLs the page requested, and the errors its script threw."""
        with tempfile.TemporaryDirectory(prefix="ftq-browser-netlog-") as tmp:
            log = os.path.join(tmp, "net.json")
            dom, err = self.run(url, ["--dump-dom", "--log-net-log=" + log, "--net-log-capture-mode=Default",
                                      "--enable-logging=stderr", "--v=0"])
            site = re.match(r"^(\w+://[^:/]+)", url).group(1)
            thrown = [line for line in err.splitlines() if ":CONSOLE" in line and "Uncaught" in line]
            return dom, page_requests(log, site), thrown

    def screenshot(self, url, png):
        self.run(url, ["--screenshot=" + png])


def page_requests(netlog_path, page_site):
    """The URLs of every request Chromium's network log attributes to the page (its network
    isolation key names the page's site), and nothing Chromium asks for on its own behalf
    (component updates, time queries: their key is null)."""
    with open(netlog_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        log = json.loads(text)
    except ValueError:
        log = json.loads(text.rstrip().rstrip(",") + "]}")  # Chromium did not close it
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for e in log.get("events", []):
        p = e.get("params") or {}
        if e.get("type") == start_job and "url" in p:
            if str(p.get("network_isolation_key", "")).split(" ")[0] == page_site:
                urls.append(p["url"])
    return urls


class Demo:
    """`ftq demo --status 127.0.0.1:0` with its URL read from stderr."""

    def __init__(self, binary, work):
        self.cmd = [binary, "demo", "--status", "127.0.0.1:0", "--status-linger", "120s", "--dir", work]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self.url = None
        self.got_url = threading.Event()
        threading.Thread(target=self.read_stderr, daemon=True).start()

    def read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            m = re.search(r"status: (http://\S+)", line)
            if m and self.url is None:
                self.url = m.group(1).rstrip("/") + "/"
                self.got_url.set()
        self.got_url.set()

    def wait_url(self, timeout):
        self.got_url.wait(timeout)
        if self.url is None:
            raise Failed("`%s` printed no `status: http://...` line within %d s (exit %s); stderr:\n%s" %
                         (" ".join(self.cmd), timeout, self.proc.poll(), "\n".join(self.lines[-30:])))
        return self.url

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# ---- checks -----------------------------------------------------------------------------------

def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def get_json(url):
    return json.loads(get(url))


def wait_finished(base, demo, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if demo is not None and demo.proc.poll() is not None:
            raise Failed("ftq demo exited (%d) before the test was done; stderr:\n%s" %
                         (demo.proc.returncode, "\n".join(demo.lines[-30:])))
        try:
            last = get_json(base + "status")
            qs = last.get("queries", [])
            if qs and all(q["state"] in FINISHED for q in qs) and last["engine"]["queries_running"] == 0:
                return last
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    raise Failed("/status did not show every query finished within %d s; last answer: %s" %
                 (timeout, json.dumps(last)[:1500]))


def digits(text):
    return re.sub(r"[^0-9]", "", text)


def check_static(checks, page_bytes):
    """Nothing in the page may point outside the server that serves it."""
    text = page_bytes.decode("utf-8")
    r = AttrReader()
    r.feed(text)
    for tag, attr, value in r.urls:
        v = value.strip().lower()
        checks.that("//" not in v and not re.match(r"^[a-z][a-z0-9+.-]*:", v),
                    "<%s %s=%r> leaves the server: the page must be self-contained" % (tag, attr, value))
    for scheme in ("http://", "https://", "ws://", "wss://"):
        checks.that(scheme not in text, "the page contains %r: no external URL of any kind" % scheme)
    checks.that(not re.search(r"@import|url\(\s*['\"]?\s*(//|[a-z]+:)", text, re.I),
                "the page's CSS imports or loads something from elsewhere")
    scripts = [a for t, a in r.tags if t == "script"]
    checks.that(scripts and all("src" not in a for a in scripts), "the page's script must be inline")
    checks.that(not any(t == "link" for t, _ in r.tags), "the page must not <link> stylesheets or fonts")


def close(a, b, tol):
    try:
        return abs(float(a) - float(b)) <= tol
    except (TypeError, ValueError):
        return False


def check_int(checks, scope, name, want, what):
    f = scope.fields.get(name)
    if not checks.that(f is not None, "%s: no data-field=%r on the page" % (what, name)):
        return
    checks.equal(f.value, str(want), what + " " + name + " (data-value)")
    checks.equal(digits(f.text), str(want), what + " " + name + " (text %r)" % f.text)


def check_str(checks, scope, name, want, what):
    f = scope.fields.get(name)
    if not checks.that(f is not None, "%s: no data-field=%r on the page" % (what, name)):
        return
    checks.equal(f.value, want, what + " " + name + " (data-value)")
    checks.equal(f.text.replace(" ", "_"), want.replace(" ", "_"), what + " " + name + " (text)")


def check_age(checks, scope, name, want_age, lag_lo, lag_hi, what):
    """An age the page showed at time t in the window: /status' age (read later) minus the lag."""
    f = scope.fields.get(name)
    if not checks.that(f is not None, "%s: no data-field=%r on the page" % (what, name)):
        return
    if want_age is None:
        checks.equal(f.value, "", what + " " + name)
        return
    try:
        got = float(f.value)
    except ValueError:
        checks.that(False, "%s %s: data-value %r is not a number" % (what, name, f.value))
        return
    checks.that(want_age - lag_hi - 0.3 <= got <= want_age - lag_lo + 0.3,
                "%s %s: the page shows %.3f s, /status has %.3f s %.1f-%.1f s later" %
                (what, name, got, want_age, lag_lo, lag_hi))
    checks.that(f.text not in ("", "—"), "%s %s: no age shown" % (what, name))


def check_dom(checks, dom, status, failures, t_load0, t_load1, t_status):
    d = DomReader()
    d.feed(dom)
    e = status["engine"]
    check_str(checks, d.engine, "version", e["version"], "engine")
    check_str(checks, d.engine, "io_backend", e["io_backend"], "engine")
    check_int(checks, d.engine, "queries_running", e["queries_running"], "engine")
    conn = d.engine.fields.get("connection")
    checks.that(conn is not None and conn.value == "ok",
                "the connection indicator says %r, not ok" % (conn.value if conn else None))
    checks.that(d.banner_hidden is True, "the error banner shows: %r" % " ".join("".join(d.banner_text).split()))

    want_ids = [str(q["id"]) for q in status["queries"]]
    checks.equal(list(d.queries), want_ids, "the query cards (ids, in order)")
    lag_lo, lag_hi = t_status - t_load1, t_status - t_load0
    any_failure = False
    for q in status["queries"]:
        what = "query %s (%s)" % (q["id"], q["name"])
        s = d.queries.get(str(q["id"]))
        if s is None:
            continue
        check_str(checks, s, "name", q["name"], what)
        check_str(checks, s, "state", q["state"], what)
        check_int(checks, s, "priority", q["priority"], what)
        if q["error"]:
            check_str(checks, s, "error", q["error"], what)
        else:
            checks.that("error" not in s.fields, what + ": shows an error /status does not have")
        check_int(checks, s, "rows_done", q["rows_done"], what)
        check_int(checks, s, "rows_total", q["rows_total"], what)
        pct = s.fields.get("percent")
        if checks.that(pct is not None, what + ": no percent shown"):
            checks.that(close(pct.value, q["percent"], 0.1), "%s percent: data-value %r, /status %r" %
                        (what, pct.value, q["percent"]))
            # JS rounds halves up, Python to even: compare numbers, not strings.
            m = re.fullmatch(r"(\d+\.\d)%", pct.text)
            checks.that(m is not None and abs(float(m.group(1)) - q["percent"]) <= 0.05 + 1e-9,
                        "%s percent: the page shows %r, /status has %r" % (what, pct.text, q["percent"]))
        el = s.fields.get("elapsed")
        checks.that(el is not None and close(el.value, q["elapsed_s"], 0.01),
                    "%s elapsed: %r, /status %r" % (what, el.value if el else None, q["elapsed_s"]))
        eta = s.fields.get("eta")
        if q["eta_s"] is None:
            checks.that(eta is not None and eta.value == "" and eta.text == "—",
                        what + ": shows an ETA /status does not have")
        ft = q["fault_tolerance"]
        any_failure = any_failure or ft["failures"] > 0
        for name in ("failures", "retries", "operator_restores", "pipeline_restarts", "stalls"):
            check_int(checks, s, name, ft[name], what)
        ck = q.get("checkpoint")
        last = ck.get("last") if ck else None
        if last:
            check_int(checks, s, "checkpoint_epoch", last["epoch"], what)
            check_str(checks, s, "checkpoint_kind", last["kind"], what)
            check_int(checks, s, "checkpoint_commits", ck["commits"], what)
            for name in ("raw_bytes", "stored_bytes"):
                f = s.fields.get("checkpoint_" + name)
                checks.that(f is not None and f.value == str(last[name]), "%s checkpoint %s: %r, /status %r" %
                            (what, name, f.value if f else None, last[name]))
            check_age(checks, s, "checkpoint_age", last["age_s"], lag_lo, lag_hi, what)
            iv = ck.get("interval")
            if iv:
                f = s.fields.get("interval")
                checks.that(f is not None and close(f.value, iv["interval_s"], 1e-9) and iv["formula"] in f.text,
                            "%s checkpoint interval: %r, /status %r (%s)" %
                            (what, f.text if f else None, iv["interval_s"], iv["formula"]))
        else:
            f = s.fields.get("checkpoint_epoch")
            checks.that(f is not None and f.value == "", what + ": shows a checkpoint epoch /status does not have")

        # Failures over the query's lifetime, from /failures.
        keys = {q.get("checkpoint_id"), q["name"], str(q["id"])} - {None, ""}
        mine = [r for r in failures["failures"]
                if str(r["query"]) in keys and r["time_unix_ms"] >= q["started_unix_ms"]]
        check_int(checks, s, "spark_failures", len(mine), what)
        checks.that((s.spark_rects > 0) == bool(mine),
                    "%s: its failure chart has %d bars for %d failures" % (what, s.spark_rects, len(mine)))

        ops = q.get("operators", [])
        checks.equal(list(s.operators), [str(o["id"]) for o in ops], what + " operator rows")
        for o in ops:
            ow = "%s operator %s (%s)" % (what, o["id"], o["name"])
            os_ = s.operators.get(str(o["id"]))
            if os_ is None:
                continue
            check_str(checks, os_, "name", o["name"], ow)
            check_str(checks, os_, "state", o["state"], ow)
            check_str(checks, os_, "breaker", o["breaker"], ow)
            for name in ("rows_in", "rows_out", "failures"):
                check_int(checks, os_, name, o[name], ow)
            lc = o.get("last_checkpoint")
            if lc:
                check_int(checks, os_, "checkpoint_epoch", lc["epoch"], ow)
                check_age(checks, os_, "checkpoint_age", lc["age_s"], lag_lo, lag_hi, ow)
            else:
                f = os_.fields.get("checkpoint_epoch")
                checks.that(f is not None and f.value == "", ow + ": shows a checkpoint /status does not have")
    if failures["total"] > 0:
        checks.that(d.chart_rects > 0, "/failures has %d failures but the chart draws no bar" % failures["total"])
    else:
        checks.equal(d.chart_rects, 0, "bars in the failure chart without failures")
    checks.equal(any_failure, failures["total"] > 0, "some query counts failures / /failures has records")
    check_cluster(checks, d, status, lag_lo, lag_hi)


def shown_seconds(text):
    """The seconds the page's fmtDur() text stands for, and its resolution."""
    m = re.fullmatch(r"(\d+) ms", text)
    if m:
        return int(m.group(1)) / 1000, 0.001
    m = re.fullmatch(r"(\d+\.\d) s", text)
    if m:
        return float(m.group(1)), 0.1
    m = re.fullmatch(r"(\d+)m (\d\d)s", text)
    if m:
        return int(m.group(1)) * 60 + int(m.group(2)), 1.0
    m = re.fullmatch(r"(\d+)h (\d\d)m", text)
    if m:
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60, 60.0
    return None, None


def check_cluster(checks, d, status, lag_lo, lag_hi):
    """The Cluster card shows /status' cluster view, or is hidden without one."""
    c = status.get("cluster")
    if c is None:
        checks.that(d.cluster_hidden is True, "the Cluster card shows although /status has no cluster view")
        checks.equal(list(d.cluster_queries), [], "cluster query rows without a cluster view")
        return
    checks.that(d.cluster_hidden is False, "the Cluster card is hidden although /status has a cluster view")
    check_str(checks, d.cluster, "cluster_worker", c["worker"], "cluster")
    check_str(checks, d.cluster, "cluster_store", c["store"], "cluster")
    for name in ("takeovers", "leases_held", "fenced_commits"):
        check_int(checks, d.cluster, "cluster_" + name, c[name], "cluster")
    checks.equal(list(d.cluster_queries), [q["id"] for q in c["queries"]], "the cluster's query rows (ids, in order)")
    now_ms = status["engine"]["now_unix_ms"]
    for q in c["queries"]:
        what = "cluster query %s" % q["id"]
        s = d.cluster_queries.get(q["id"])
        if s is None:
            continue
        check_str(checks, s, "id", q["id"], what)
        check_str(checks, s, "state", q["state"], what)
        owner = s.fields.get("owner")
        checks.that(owner is not None and owner.value == q["owner"] and owner.text == (q["owner"] or "—"),
                    "%s owner: the page shows %r (%r), /status has %r" %
                    (what, owner.text if owner else None, owner.value if owner else None, q["owner"]))
        lease = s.fields.get("lease")
        if checks.that(lease is not None, what + ": no lease shown"):
            checks.equal(lease.value, q["lease_until"] or "", what + " lease (data-value)")
            if not q["lease_until"]:
                checks.equal(lease.text, "—", what + " lease (never leased)")
            elif not q["lease_current"]:
                checks.equal(lease.text, "lapsed", what + " lease (lapsed)")
            else:
                left, res = shown_seconds(lease.text[:-len(" left")]) if lease.text.endswith(" left") else (None, None)
                until_ms = calendar.timegm(time.strptime(q["lease_until"][:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + \
                    int(q["lease_until"][20:23])
                # The page computed it against the engine's clock at its poll, lag_lo..lag_hi s before ours.
                lo = (until_ms - now_ms) / 1000 + lag_lo
                hi = (until_ms - now_ms) / 1000 + lag_hi
                checks.that(left is not None and lo - res - 0.5 <= left <= hi + 0.5,
                            "%s lease: the page shows %r, /status says %.1f-%.1f s left" % (what, lease.text, lo, hi))
        epoch = s.fields.get("epoch")
        want_epoch = "" if q["last_epoch"] is None else str(q["last_epoch"])
        checks.that(epoch is not None and epoch.value == want_epoch and
                    (digits(epoch.text) == want_epoch if want_epoch else epoch.text == "—"),
                    "%s epoch: the page shows %r, /status has %r" % (what, epoch.text if epoch else None, want_epoch))
        takeovers = sum(1 for h in q["history"] if h["from"] and h["to"] and h["from"] != h["to"])
        check_int(checks, s, "takeovers", takeovers, what)
        if q["error"]:
            check_str(checks, s, "error", q["error"], what)
        else:
            checks.that("error" not in s.fields, what + ": shows an error /status does not have")
        r = q["result"]
        if r:
            check_int(checks, s, "result_rows", r["rows"], what)
            check_int(checks, s, "result_bytes", r["bytes"], what)
            check_str(checks, s, "result_committed_by", r["committed_by"], what)
            sha = s.fields.get("result_sha256")
            checks.that(sha is not None and sha.value == r["sha256"] and sha.text == r["sha256"][:12],
                        "%s result sha256: %r, /status %r" % (what, sha.value if sha else None, r["sha256"]))
        else:
            checks.that("result_rows" not in s.fields, what + ": shows a result /status does not have")
        checks.equal(list(s.handovers), [str(i) for i in range(len(q["history"]))], what + " handovers")
        for i, h in enumerate(q["history"]):
            hs = s.handovers.get(str(i))
            if hs is None:
                continue
            hw = "%s handover %d" % (what, i)
            for name in ("from", "to"):
                f = hs.fields.get(name)
                checks.that(f is not None and f.value == h[name] and f.text == (h[name] or "—"),
                            "%s %s: the page shows %r (%r), /status has %r" %
                            (hw, name, f.text if f else None, f.value if f else None, h[name]))
            check_str(checks, hs, "why", h["why"], hw)
            at = hs.fields.get("at")
            checks.that(at is not None and at.value == h["at"] and re.fullmatch(r"\d\d:\d\d:\d\d", at.text),
                        "%s at: the page shows %r (%r), /status has %r" %
                        (hw, at.text if at else None, at.value if at else None, h["at"]))


def check_no_cluster(checks, chromium):
    """Against a server without a cluster view the page shows no Cluster card, and throws nothing."""
    fake = fake_status_server.FakeServer(PAGE, scenario="no-cluster")
    try:
        dom, _, thrown = chromium.dump_dom_logged(fake.url)
        status = get_json(fake.url + "status")
    finally:
        fake.close()
    checks.that(status.get("cluster", "absent") is None, "the no-cluster fake serves a cluster view")
    d = DomReader()
    d.feed(dom)
    check_cluster(checks, d, status, 0, 0)
    checks.that(not thrown, "the page's script threw without a cluster view: %s" % "\n".join(thrown))
    checks.that(len(d.queries) == len(status["queries"]), "without a cluster view the query cards are gone")


def check_png(checks, path):
    with open(path, "rb") as f:
        head = f.read(24)
    ok = checks.that(head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path + " is not a PNG")
    if ok:
        size = struct.unpack(">II", head[16:24])
        checks.equal(size, WINDOW, "the screenshot's size")


def check_banner(checks, chromium):
    """Against a server whose /status fails, the page says so."""
    fake = fake_status_server.FakeServer(PAGE, scenario="broken")
    try:
        d = DomReader()
        d.feed(chromium.dump_dom(fake.url))
    finally:
        fake.close()
    text = " ".join("".join(d.banner_text).split())
    checks.that(d.banner_hidden is False, "the error banner is hidden while /status answers 500")
    checks.that("500" in text, "the error banner does not name the HTTP status: %r" % text)
    conn = d.engine.fields.get("connection")
    checks.that(conn is not None and conn.value == "error",
                "the connection indicator is not 'error' while /status fails")
    checks.that(sum("/status" in r for r in fake.requests) >= 2,
                "the page did not keep polling /status after a failure: %r" % fake.requests)


def check_requests(checks, base, urls):
    """The page asked its own server for /status, and nothing of anyone else."""
    origin = base.rstrip("/")
    outside = [u for u in urls if not (u == origin or u.startswith(origin + "/"))]
    checks.that(not outside, "the page made requests outside the server: %r" % outside)
    polls = sum(1 for u in urls if u == origin + "/status")
    checks.that(polls >= 2, "the page asked for /status %d times in 3.5 s of virtual time, not once a second: %r" %
                (polls, urls))


def check_detectors_can_fail(checks, chromium):
    """The network-log and script-error checks see a page that loads something from elsewhere
    and throws."""
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.html")
        with open(bad, "w") as f:
            f.write('<!DOCTYPE html><img src="http://dashboard-test.invalid/x.png"><script>null.x;</script>')
        fake = fake_status_server.FakeServer(bad)
        try:
            _, urls, thrown = chromium.dump_dom_logged(fake.url)
        finally:
            fake.close()
    checks.that(any("dashboard-test.invalid" in u for u in urls),
                "the network log check missed the request of a page to another host: %r" % urls)
    checks.that(len(thrown) == 1, "the script error check missed an error (or saw others): %r" % thrown)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=os.environ.get("FTQ_BINARY"))
    ap.add_argument("--fake", action="store_true", help="test against fake_status_server.py, not ftq")
    ap.add_argument("--screenshot", default=os.path.join(os.environ.get("FTQ_BUILD_ROOT", "."), "dashboard.png"))
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    a = ap.parse_args()
    if not a.fake and not a.binary:
        ap.error("no ftq binary: pass it or set FTQ_BINARY (or --fake)")
    if not os.access(a.chromium, os.X_OK):
        print("[browser] FAILED: no chromium at %s (scripts/setup-deps installs it)" % a.chromium)
        return 1
    chromium = Chromium(a.chromium)
    checks = Checks()
    demo = fake = None
    work = tempfile.mkdtemp(prefix="ftq-browser-")
    try:
        with open(PAGE, "rb") as f:
            page = f.read()
        check_static(checks, page)
        if a.fake:
            fake = fake_status_server.FakeServer(PAGE, scenario="finished")
            base = fake.url
        else:
            demo = Demo(a.binary, work)
            base = demo.wait_url(60)
        served = get(base)
        checks.that(served == page, "GET / does not serve src/status/dashboard/index.html as it is (%d bytes, file %d)"
                    % (len(served), len(page)))
        wait_finished(base, demo, 200)  # the demo takes seconds; meson's timeout is 300 s

        t0 = time.time()
        dom, urls, thrown = chromium.dump_dom_logged(base)
        t1 = time.time()
        status = get_json(base + "status")
        t_status = time.time()
        failures = get_json(base + "failures?limit=200")
        check_requests(checks, base, urls)
        checks.that(not thrown, "the page's script threw: %s" % "\n".join(thrown))
        check_dom(checks, dom, status, failures, t0, t1, t_status)

        os.makedirs(os.path.dirname(os.path.abspath(a.screenshot)), exist_ok=True)
        if os.path.exists(a.screenshot):
            os.remove(a.screenshot)
        chromium.screenshot(base, a.screenshot)
        check_png(checks, a.screenshot)

        check_banner(checks, chromium)
        check_no_cluster(checks, chromium)
        check_detectors_can_fail(checks, chromium)

        if demo is not None:
            rc = demo.stop()
            checks.that(rc in (0, 143), "ftq demo exited %r after SIGTERM (want 0 or 143); stderr:\n%s" %
                        (rc, "\n".join(demo.lines[-20:])))
    except Failed as e:
        checks.failed.append(str(e))
    finally:
        if demo is not None and demo.proc.poll() is None:
            demo.proc.kill()
            demo.proc.wait()
        if fake is not None:
            fake.close()
        shutil.rmtree(work, ignore_errors=True)
    for f in checks.failed:
        print("[browser] FAILED: " + f)
    if checks.failed:
        print("[browser] %d checks passed, %d failed" % (checks.passed, len(checks.failed)))
        return 1
    print("[browser] %d checks passed (screenshot: %s)" % (checks.passed, os.path.abspath(a.screenshot)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
