"""Crash torture: SMTP clients submit without pause while the daemon is
killed with SIGKILL at random moments and restarted on the same queue;
afterwards, every message that got a 250 must reach the upstream.

Python 3 standard library only.  Used by test_core.py (bounded tests) and
by contrib/torture.sh (a longer run from the command line):

    load = Load(lambda: m.port, "tag", clients=4)   # threads, reconnecting
    load.start(); ...; load.stop()
    load.accepted()       {subject: queue id} for every 250 received
    counts = delivered_subjects(raws, load.prefix)  # Counter per subject
    r = torture(m, raws_fn, kills=20)               # the whole scenario
    r.lost, r.duplicates, r.extra, r.accepted, r.kills

A duplicate is expected only for a message that was in flight to the
upstream when the daemon died (the upstream had answered 250 to its data,
the queue had not yet recorded it sent): at most one per relay connection
and kill.
"""

import collections
import random
import re
import smtplib
import threading
import time
import uuid

SENDER = "sender@example.com"

# Config for a torture daemon: no hold, and no policy rule that would hold
# a sender's thousands of messages for release (burst) or longer.
TORTURE_CONFIG = {
    "hold": {"default": "0"},
    "policy": {"rules": {"burst": {"enabled": False},
                         "first_time_recipient": {"enabled": False}}},
}

TortureResult = collections.namedtuple(
    "TortureResult", "accepted delivered lost duplicates extra unacknowledged kills seconds")


def new_prefix():
    return "torture-" + uuid.uuid4().hex[:12]


def torture_message(prefix, subject, rcpt):
    """A small RFC 5322 message (CRLF) whose Subject: is 'PREFIX SUBJECT'."""
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s %s\r\n"
            "Date: Thu, 01 Jan 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s.%s@example.com>\r\n\r\n"
            "Message %s of a crash torture run.\r\n"
            % (SENDER, rcpt, prefix, subject, prefix, subject.replace(" ", "."),
               subject)).encode()


def delivered_subjects(raws, prefix):
    """Counter of 'N-I' subjects among delivered raw messages with prefix."""
    rx = re.compile(re.escape(prefix.encode()) + rb" (\d+-\d+)\b")
    out = collections.Counter()
    for raw in raws:
        mm = rx.search(raw)
        if mm:
            out[mm.group(1).decode()] += 1
    return out


class Load:
    """clients threads, each sending one message after another on one SMTP
    session (one recipient each), reconnecting after any error (the daemon
    killed, not yet restarted) until stop() or per_client messages.
    port_fn() gives the daemon's current port (it changes on restart)."""

    def __init__(self, port_fn, prefix=None, clients=4, per_client=None,
                 timeout=10, pause=0.0):
        self.port_fn = port_fn
        self.prefix = prefix or new_prefix()
        self.clients = clients
        self.per_client = per_client
        self.timeout = timeout
        self.pause = pause          # seconds between a client's messages
        self._accepted = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def _client(self, n):
        i = 0
        while not self._stop.is_set() and (self.per_client is None or i < self.per_client):
            try:
                with smtplib.SMTP("127.0.0.1", self.port_fn(), timeout=self.timeout) as c:
                    c.ehlo("load%d.example.com" % n)
                    while not self._stop.is_set() and (
                            self.per_client is None or i < self.per_client):
                        subj = "%d-%d" % (n, i)
                        i += 1      # a subject is never sent twice
                        rcpt = "load%d@example.org" % n
                        if c.mail(SENDER)[0] != 250 or c.rcpt(rcpt)[0] != 250:
                            c.rset()
                            continue
                        code, text = c.data(torture_message(self.prefix, subj, rcpt))
                        if code == 250:
                            mm = re.search(rb"queued as ([0-9A-Fa-f]{16})", text)
                            with self._lock:
                                self._accepted[subj] = mm.group(1).decode() if mm else None
                        if self.pause:
                            self._stop.wait(self.pause)
            except (OSError, smtplib.SMTPException):
                # The kill cut the session, or the daemon is not back yet.
                self._stop.wait(0.05)

    def start(self):
        for n in range(self.clients):
            t = threading.Thread(target=self._client, args=(n,), daemon=True,
                                 name="load-%d" % n)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout=20):
        self._stop.set()
        for t in self._threads:
            t.join(timeout)

    def accepted(self):
        with self._lock:
            return dict(self._accepted)

    def count(self):
        with self._lock:
            return len(self._accepted)


def torture(m, raws_fn, kills=20, clients=4, up_min=0.3, up_max=1.2,
            settle_timeout=60.0, seed=None, progress=None, pause=0.0):
    """Runs load against the Mailhold m, kills it kills times with SIGKILL
    after a random up time in [up_min, up_max] s (waiting for at least one
    new 250 first, so that every kill hits a busy daemon), restarts it each
    time, then stops the load and waits until every accepted message has
    arrived (raws_fn() gives the raw messages the upstream received) or
    settle_timeout passes.  Returns a TortureResult; lost and duplicates
    are sorted lists of subjects."""
    rnd = random.Random(seed)
    t0 = time.monotonic()
    load = Load(lambda: m.port, clients=clients, pause=pause).start()
    try:
        for k in range(kills):
            before = load.count()
            deadline = time.monotonic() + 10
            up_until = time.monotonic() + rnd.uniform(up_min, up_max)
            while time.monotonic() < up_until or (
                    load.count() == before and time.monotonic() < deadline):
                time.sleep(0.01)
            m.kill9()
            if progress:
                progress("kill %d/%d: %d accepted so far" % (k + 1, kills, load.count()))
            m.start()
        time.sleep(rnd.uniform(up_min, up_max))
    finally:
        load.stop()
    want = set(load.accepted())
    deadline = time.monotonic() + settle_timeout
    while True:
        got = delivered_subjects(raws_fn(), load.prefix)
        if want <= set(got) or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    time.sleep(1.0)     # a late duplicate has its chance
    got = delivered_subjects(raws_fn(), load.prefix)
    return TortureResult(
        accepted=len(want), delivered=sum(got.values()),
        lost=sorted(want - set(got)),
        duplicates=sorted(s for s, n in got.items() if n > 1),
        # deliveries beyond the first (a message in flight at two kills
        # can arrive three times)
        extra=sum(n - 1 for n in got.values() if n > 1),
        # committed, but the kill came before the client read its 250
        unacknowledged=len(set(got) - want),
        kills=kills, seconds=time.monotonic() - t0)


def _main(argv):
    """contrib/torture.sh: the longer run, against a FakeSMTP upstream."""
    import argparse
    import os
    import sys
    from fakesmtp import FakeSMTP
    from harness import Mailhold

    ap = argparse.ArgumentParser(description="mailhold crash torture")
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds of load in all (sets the mean up time "
                         "between kills); default: 0.3-1.2 s up each time")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--pause", type=float, default=0.05,
                    help="seconds between a client's messages")
    ap.add_argument("--connections", type=int, default=4,
                    help="upstream.max_connections")
    ap.add_argument("--hold", default="0", help="hold.default")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args(argv)
    up_min, up_max = 0.3, 1.2
    if a.duration:
        mean = max(0.2, a.duration / max(1, a.kills))
        up_min, up_max = mean * 0.5, mean * 1.5
    up = FakeSMTP(max_conn_seconds=3600, read_timeout=60)
    m = Mailhold(upstream_port=up.port,
                 config=dict(TORTURE_CONFIG, hold={"default": a.hold},
                             upstream={"max_connections": a.connections}))
    try:
        r = torture(m, lambda: [x[2] for x in list(up.messages)], kills=a.kills,
                    clients=a.clients, up_min=up_min, up_max=up_max,
                    settle_timeout=120, seed=a.seed, pause=a.pause,
                    progress=lambda s: print(s, file=sys.stderr, flush=True))
        m.stop()
    finally:
        m.close()
        up.close()
        if not os.environ.get("MH_KEEP_TMP"):
            m.remove_tmp()
    print("kills=%d accepted=%d delivered=%d lost=%d duplicated=%d "
          "extra_copies=%d unacknowledged=%d duplicate_bound=%d seconds=%.0f"
          % (r.kills, r.accepted, r.delivered, len(r.lost), len(r.duplicates),
             r.extra, r.unacknowledged, r.kills * a.connections, r.seconds))
    if r.lost:
        print("lost: %s" % " ".join(r.lost[:50]))
    return 1 if r.lost or r.extra > r.kills * a.connections else 0


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv[1:]))
