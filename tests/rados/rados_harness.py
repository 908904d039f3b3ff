"""What the scale-out tests (tests/rados/*_test.py) and bench/rados_takeover.py share: the
cached 10M-row data set and its fault-free answer, `ftq worker` processes whose log lines are
read as they come, `ftq submit` and `ftq status --json`, and a tally of checks.

Run under tests/rados/with-cluster.sh, which exports CEPH_CONF and FTQ_TEST_RADOS (the store,
rados://ftq) and FTQ_CEPH_CLUSTER_DIR (for scripts/ceph-cluster kill-osd), and stops the cluster
afterwards. Every process started here is killed when the script ends, however it ends.

Python 3 standard library only.
"""
import atexit
import datetime
import hashlib
import json
import math
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SOURCE_ROOT = pathlib.Path(os.environ.get("FTQ_SOURCE_ROOT") or pathlib.Path(__file__).resolve().parents[2])

# The query every test runs: TPC-H Q1 on 10M lineitem rows (522 MB of CSV), slowed down by a
# stall before every csv_scan batch so that an owner holds it for seconds, not milliseconds.
PLAN = SOURCE_ROOT / "examples" / "plans" / "q1.json"
ROWS = 10_000_000
SEED = 42
BATCH_ROWS = 4096  # the worker's and ftq run's default, given explicitly: the reference needs the same
CHECKPOINT_INTERVAL = "250ms"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


# ---------------------------------------------------------------------------------------------
# Checks


class checks:
    """Counts checks; a failed one is printed at once with what was seen."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.figures = []  # (label, text): printed above the summary line

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            log(f"[{now_text()}] ok: {what}")
        else:
            self.failed += 1
            log(f"[{now_text()}] FAILED: {what}" + (f" ({detail})" if detail else ""))
        return ok

    def figure(self, label, text):
        self.figures.append((label, text))
        log(f"[{now_text()}] {label}: {text}")

    def finish(self):
        """Prints the figures and the summary line; the exit status: 0 only when all passed."""
        for label, text in self.figures:
            print(f"{label}: {text}")
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


class test_failure(Exception):
    """A precondition for the rest of the test failed: the test stops here."""


# ---------------------------------------------------------------------------------------------
# Processes: every child is remembered and killed at exit (also on SIGTERM from meson's timeout)

_children = []
_children_lock = threading.Lock()


def _kill_children():
    with _children_lock:
        procs = list(_children)
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)  # a stopped process dies of SIGKILL too, but be sure
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _on_signal(signum, _frame):
    _kill_children()
    sys.exit(128 + signum)


atexit.register(_kill_children)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    with _children_lock:
        _children.append(p)
    return p


def run(cmd, timeout, check=True):
    """Runs a command to its end (bounded); returns (exit status, stdout, stderr)."""
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise test_failure(f"{' '.join(map(str, cmd))} did not finish within {timeout} s: {err.strip()}")
    if check and p.returncode != 0:
        raise test_failure(f"{' '.join(map(str, cmd))} exited {p.returncode}: {err.strip()}")
    return p.returncode, out, err


# ---------------------------------------------------------------------------------------------
# Data and the expected answer


def default_cache_dir():
    env = os.environ.get("FTQ_RADOS_DATA_CACHE")
    if env:
        return env
    build = os.environ.get("FTQ_BUILD_ROOT")
    return os.path.join(build, "rados-test-data") if build else os.path.join(tempfile.gettempdir(), "ftq-rados-data")


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_data(ftq, cache_dir, rows=ROWS, seed=SEED):
    """The data set in cache_dir (generated once, then reused); returns (dir, seconds spent
    generating it now: 0 when it was cached)."""
    target = pathlib.Path(cache_dir) / f"lineitem-{rows}-seed{seed}"
    if (target / "PARAMS").is_file() and (target / "lineitem.csv").is_file():
        return target, 0.0
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    started = time.monotonic()
    run([ftq, "gen", "--rows", str(rows), "--seed", str(seed), "--out", str(staging)], timeout=600)
    spent = time.monotonic() - started
    try:
        staging.rename(target)  # another run may have won the race: then use its copy
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target, spent


def binary_key(ftq):
    st = os.stat(ftq)
    return f"{st.st_size}-{st.st_mtime_ns}"


def reference_csv(ftq, data_dir, plan=PLAN, batch_rows=BATCH_ROWS):
    """The fault-free `ftq run` answer for the plan (same batch size: recovery promises the same
    bytes), cached beside the data per binary and plan; returns (path, seconds spent now)."""
    plan_hash = file_sha256(plan)[:12]
    path = pathlib.Path(data_dir) / f"expected-{pathlib.Path(plan).stem}-{plan_hash}-b{batch_rows}-{binary_key(ftq)}.csv"
    if path.is_file():
        return path, 0.0
    tmp = path.with_suffix(f".{os.getpid()}.tmp.csv")
    started = time.monotonic()
    run([ftq, "run", str(plan), "--data", str(data_dir), "--out", str(tmp), "--batch-rows", str(batch_rows),
         "--progress", "never"], timeout=600)
    spent = time.monotonic() - started
    for stale in pathlib.Path(data_dir).glob(f"expected-{pathlib.Path(plan).stem}-*.csv"):
        if stale != tmp:
            stale.unlink(missing_ok=True)
    os.replace(tmp, path)
    return path, spent


# ---------------------------------------------------------------------------------------------
# The cluster


def store_uri():
    uri = os.environ.get("FTQ_TEST_RADOS")
    if not uri or not os.environ.get("CEPH_CONF"):
        raise test_failure("CEPH_CONF and FTQ_TEST_RADOS are not set: run under tests/rados/with-cluster.sh")
    return uri


def submit(ftq, store, data_dir, out, query_id, inject, plan=PLAN, batch_rows=BATCH_ROWS,
           interval=CHECKPOINT_INTERVAL):
    cmd = [ftq, "submit", str(plan), "--data", str(data_dir), "--out", str(out), "--checkpoint-store", store,
           "--query-id", query_id, "--batch-rows", str(batch_rows), "--checkpoint-interval", interval]
    if inject:
        cmd += ["--inject", inject]
    _, stdout, _ = run(cmd, timeout=60)
    first = stdout.splitlines()[0].strip() if stdout.strip() else ""
    if first != query_id:
        raise test_failure(f"ftq submit printed {first!r}, not the query id {query_id!r}")
    return first


def status(ftq, store, query_id):
    """The query's entry of `ftq status --json QUERY`."""
    _, stdout, _ = run([ftq, "status", "--checkpoint-store", store, "--json", query_id], timeout=30)
    doc = json.loads(stdout)
    for q in doc.get("queries", []):
        if q.get("id") == query_id:
            return q
    raise test_failure(f"ftq status --json lists no query {query_id}: {stdout.strip()}")


def cluster_view(url, query_id, timeout=10):
    """The query's entry in a worker's /cluster view (as of the worker's last poll), or None."""
    with urllib.request.urlopen(url.rstrip("/") + "/cluster", timeout=timeout) as r:
        doc = json.loads(r.read())
    return next((q for q in doc.get("queries", []) if q.get("id") == query_id), None)


def wait_status(ftq, store, query_id, pred, timeout, what, every=0.2):
    """Polls `ftq status --json` until pred(entry) holds; returns the entry."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = status(ftq, store, query_id)
        if pred(last):
            return last
        if time.monotonic() > deadline:
            raise test_failure(f"{what}: not within {timeout} s; last status {json.dumps(last)}")
        time.sleep(every)


# ---------------------------------------------------------------------------------------------
# Workers and their log lines

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z ftq worker (\S+): (.*)$")


def parse_utc(text):
    """'2025-11-26T08:57:18.123' (UTC) -> unix seconds."""
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()


class event:
    __slots__ = ("at", "worker", "text", "seq")

    def __init__(self, at, worker, text, seq):
        self.at = at          # unix seconds, from the line's own timestamp
        self.worker = worker  # the name in the line
        self.text = text      # the event after "<name>: "
        self.seq = seq        # position in the combined log of every worker

    def __repr__(self):
        return f"{self.worker}: {self.text}"


class worker_pool:
    """`ftq worker` processes named w1, w2, ... whose stderr lines are collected, in arrival
    order, into one event list that tests wait on. Each worker's output also goes to
    WORKDIR/<name>.log."""

    def __init__(self, ftq, store, workdir, lease, renew, poll):
        self.ftq = ftq
        self.store = store
        self.workdir = pathlib.Path(workdir)
        self.lease, self.renew, self.poll = lease, renew, poll
        self.procs = {}  # name -> Popen
        self.signalled = set()  # names this pool sent SIGKILL or SIGTERM
        self.events = []
        self.other_lines = []  # lines not in the worker format (errors)
        self.cond = threading.Condition()
        self.count = 0

    def start(self, name=None, extra=()):
        self.count += 1
        name = name or f"w{self.count}"
        cmd = [self.ftq, "worker", "--checkpoint-store", self.store, "--name", name, "--lease", self.lease,
               "--renew", self.renew, "--poll", self.poll] + list(extra)
        p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.procs[name] = p
        threading.Thread(target=self._read, args=(name, p), daemon=True).start()
        return name

    def _read(self, name, p):
        with open(self.workdir / f"{name}.log", "w") as f:
            for line in p.stderr:
                f.write(line)
                f.flush()
                line = line.rstrip("\n")
                m = LINE.match(line)
                with self.cond:
                    if m:
                        self.events.append(event(parse_utc(m.group(1)), m.group(2), m.group(3), len(self.events)))
                    else:
                        self.other_lines.append(f"{name}: {line}")
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def endpoint(self, name, timeout=30):
        """The URL of a worker started with --status (its "listening on" line)."""
        e = self.wait_for(lambda e: e.worker == name and e.text.startswith("listening on "), timeout,
                          f"{name} to listen on its status endpoint")
        return e.text[len("listening on "):]

    def alive(self, name):
        return self.procs[name].poll() is None

    def kill(self, name, sig=signal.SIGKILL):
        """Sends sig; returns the wall-clock time just before it was sent."""
        at = time.time()
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.signalled.add(name)
        os.kill(self.procs[name].pid, sig)
        if sig == signal.SIGKILL:
            self.procs[name].wait(timeout=10)
        return at

    def find(self, pred, since=0):
        with self.cond:
            for e in self.events[since:]:
                if pred(e):
                    return e
        return None

    def select(self, pred, since=0):
        with self.cond:
            return [e for e in self.events[since:] if pred(e)]

    def mark(self):
        """The position after the last event so far (for waits on what comes next)."""
        with self.cond:
            return len(self.events)

    def wait_for(self, pred, timeout, what, since=0):
        """The first event from position `since` on for which pred holds; test_failure after
        timeout seconds, naming what was awaited and the last lines seen."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events[since:]:
                    if pred(e):
                        return e
                since = max(since, len(self.events))
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n  ".join(map(repr, self.events[-12:])) or "(no worker lines)"
                    other = "\n  ".join(self.other_lines[-6:])
                    raise test_failure(f"waited {timeout} s for {what}; last worker lines:\n  {tail}" +
                                       (f"\nother output:\n  {other}" if other else "") + self.deaths())
                self.cond.wait(min(left, 0.5))

    def deaths(self):
        """Workers that ended without being told to, and how: '' when none did."""
        told = []
        for name, p in self.procs.items():
            rc = p.poll()
            if rc is None or name in self.signalled:
                continue
            how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited {rc}"
            told.append(f"{name} {how}")
        return ("\nworkers that died: " + ", ".join(told)) if told else ""

    def stop_all(self):
        """SIGTERM every live worker, then SIGKILL those still running after 15 s."""
        for name, p in self.procs.items():
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


# Event predicates for query q.
def is_first_start(q):
    return lambda e: e.text == f"started {q} (first owner)"


def is_takeover(q, worker=None):
    prefix = f"took over {q} from "
    return lambda e: e.text.startswith(prefix) and (worker is None or e.worker == worker)


def takeover_from(e):
    m = re.match(r"took over \S+ from (\S+) \(its lease lapsed (-?\d+) ms ago\)", e.text)
    return (m.group(1), int(m.group(2))) if m else (None, None)


def is_resumed(q, worker=None):
    """Progress (re)started: "resumed Q from epoch E" or "started Q from scratch (no checkpoint)"."""
    return lambda e: (e.text.startswith(f"resumed {q} from epoch ") or
                      e.text == f"started {q} from scratch (no checkpoint)") and (worker is None or e.worker == worker)


def resumed_epoch(e):
    m = re.match(r"resumed \S+ from epoch (\d+)", e.text)
    return int(m.group(1)) if m else None


def is_succeeded(q, worker=None):
    return lambda e: e.text.startswith(f"succeeded {q}: ") and (worker is None or e.worker == worker)


def is_delivered(q):
    return lambda e: e.text.startswith(f"delivered {q} -> ")


def is_trouble(q):
    """An event that ends the query on that worker other than by success."""
    return lambda e: (e.text.startswith(f"failed {q}") or e.text.startswith(f"lost {q}:") or
                      e.text.startswith(f"refused commit for {q}:"))


def owner_of(pool, q):
    """The worker that took q last (first start or takeover), from the log lines."""
    takes = pool.select(lambda e: is_first_start(q)(e) or is_takeover(q)(e))
    return takes[-1].worker if takes else None


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def parse_seconds(text):
    m = re.fullmatch(r"([0-9.]+)(ms|s)", text)
    if not m:
        raise ValueError(f"not a duration in ms or s: {text}")
    return float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)


class workspace:
    """A scratch directory; kept (and named) when the test fails, removed when it passes."""

    def __init__(self, name):
        self.path = pathlib.Path(tempfile.mkdtemp(prefix=f"ftq-{name}."))

    def close(self, passed):
        if passed:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            log(f"logs kept in {self.path}")
