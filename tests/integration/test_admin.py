"""mailholdctl against the real daemon and the real Postfix upstream
(issue 6, part 1): queue, show, release, cancel (also --sender), stats,
reload, and the clear errors: unknown id, wrong state, daemon not
running, a socket the caller may not use.
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (MailholdTestCase, crlf, mailholdctl, mailholdctl_bin,  # noqa: E402
                     smtp_send)
from test_policy import rules  # noqa: E402
from upstream import PostfixUpstream  # noqa: E402

SENDER = "sender@example.com"
DELIVERY_TIMEOUT = 10.0


def message(tag, to="rcpt@example.org", sender=SENDER):
    return crlf("From: <%s>\r\nTo: <%s>\r\nSubject: admin %s\r\n"
                "Message-ID: <%s@example.com>\r\n\r\nHello %s.\r\n"
                % (sender, to, tag, tag, tag))


class AdminTest(MailholdTestCase):

    @classmethod
    def setUpClass(cls):
        cls.up = PostfixUpstream()

    @classmethod
    def tearDownClass(cls):
        cls.up.close()

    def start(self, policy=None, hold=None):
        cfg = {"hold": dict({"default": "1h", "max": "2h"}, **(hold or {})),
               "policy": dict({"internal_domains": ["example.com"],
                               "rules": rules()}, **(policy or {}))}
        return self.mailhold(upstream_port=self.up.port, config=cfg)

    def state(self, m, qid):
        db = sqlite3.connect(m.queue_path, timeout=5)
        try:
            return db.execute("SELECT state FROM messages WHERE id=?",
                              (qid,)).fetchone()[0]
        finally:
            db.close()

    def send(self, m, tag, to="rcpt@example.org", sender=SENDER):
        r = smtp_send(m.port, sender, [to], message(tag, to, sender))
        m.wait_log(r"id=%s event=held " % r.queue_id, timeout=5)
        return r.queue_id

    def delivered(self, tag):
        return [x for x in self.up.messages() if tag.encode() in x.raw]

    def test_admin_queue_show_release_cancel(self):
        m = self.start()
        t1, t2 = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
        q1, q2 = self.send(m, t1), self.send(m, t2)

        # queue: both held for an hour, as JSON and as a table.
        rc, a = m.ctl_json("queue")
        self.assertEqual(rc, 0, a)
        self.assertTrue(a["ok"])
        rows = {x["id"]: x for x in a["result"]}
        self.assertEqual(set(rows), {q1, q2})
        self.assertEqual(rows[q1]["state"], "held")
        self.assertEqual(rows[q1]["sender"], SENDER)
        self.assertEqual(rows[q1]["recipients"], 1)
        self.assertEqual(rows[q1]["subject"], "admin " + t1)
        self.assertGreater(rows[q1]["next_attempt"], time.time() + 3000)
        p = m.ctl("queue")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(q1, p.stdout)
        self.assertIn("admin " + t1, p.stdout)
        self.assertIn("2 messages", p.stdout)

        # show: envelope, recipients, audit rows.
        rc, a = m.ctl_json("show", q1)
        self.assertEqual(rc, 0, a)
        r = a["result"]
        self.assertEqual(r["id"], q1)
        self.assertEqual(r["state"], "held")
        self.assertEqual([x["addr"] for x in r["recipients"]], ["rcpt@example.org"])
        self.assertEqual(r["recipients"][0]["status"], "pending")
        self.assertEqual(r["audit"][0]["to"], "held")
        self.assertIsInstance(json.loads(r["verdict"]), dict)
        p = m.ctl("show", q1.upper())      # ids are case-insensitive
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("rcpt@example.org", p.stdout)

        # release: delivered within seconds, audit actor ctl:uid=0.
        p = m.ctl("release", q1)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("%s: released" % q1, p.stdout)
        m.wait_event("sent", q1, timeout=DELIVERY_TIMEOUT)
        self.up.wait_for(1, DELIVERY_TIMEOUT, pred=lambda x: t1.encode() in x.raw)
        rc, a = m.ctl_json("show", q1)
        actors = [x["actor"] for x in a["result"]["audit"]]
        self.assertIn("ctl:uid=%d" % os.getuid(), actors)
        m.wait_log(r"event=control uid=%d gid=\d+ pid=\d+ request=\"release %s\""
                   % (os.getuid(), q1), timeout=2)

        # cancel: never delivered, state cancelled.
        p = m.ctl("cancel", q2)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.state(m, q2), "cancelled")
        # Releasing it now, or the sent one again: clear errors, exit 1.
        rc, a = m.ctl_json("release", q2, q1)
        self.assertEqual(rc, 1)
        self.assertFalse(a["ok"])
        errs = {x["id"]: x.get("error") for x in a["result"]}
        self.assertEqual(errs, {q2: "already cancelled", q1: "already sent"})
        p = m.ctl("cancel", q1)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already sent", p.stderr)
        time.sleep(1.5)
        self.assertEqual(self.delivered(t2), [])

        # Default listing holds neither now; --state shows them.
        rc, a = m.ctl_json("queue")
        self.assertEqual(a["result"], [])
        rc, a = m.ctl_json("queue", "--state", "sent,cancelled")
        self.assertEqual({x["id"]: x["state"] for x in a["result"]},
                         {q1: "sent", q2: "cancelled"})

    def test_admin_sender_release_and_cancel(self):
        m = self.start()
        other = "other@example.com"
        tags = [uuid.uuid4().hex[:10] for _ in range(3)]
        a1 = self.send(m, tags[0], sender=other)
        a2 = self.send(m, tags[1], sender=other)
        b1 = self.send(m, tags[2])
        rc, a = m.ctl_json("queue", "--sender", "OTHER@example.com")
        self.assertEqual(sorted(x["id"] for x in a["result"]), sorted([a1, a2]))
        rc, a = m.ctl_json("cancel", "--sender", other)
        self.assertEqual(rc, 0, a)
        self.assertEqual(sorted(x["id"] for x in a["result"]), sorted([a1, a2]))
        self.assertEqual(self.state(m, a1), "cancelled")
        self.assertEqual(self.state(m, b1), "held")
        # Nothing left of that sender: an error, exit 1.
        p = m.ctl("release", "--sender", other)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no matching message", p.stderr)
        rc, a = m.ctl_json("release", "--sender", SENDER)
        self.assertEqual(rc, 0, a)
        m.wait_event("sent", b1, timeout=DELIVERY_TIMEOUT)

    def test_admin_release_awaiting_release(self):
        m = self.start({"rules": rules(typo_domain={"action": "hold_for_release"})})
        tag = uuid.uuid4().hex[:10]
        r = smtp_send(m.port, SENDER, ["friend@gmial.com"],
                      message(tag, to="friend@gmial.com"))
        qid = r.queue_id
        m.wait_log(r"id=%s event=awaiting_release" % qid, timeout=5)
        rc, a = m.ctl_json("queue")
        row = [x for x in a["result"] if x["id"] == qid][0]
        self.assertEqual(row["state"], "awaiting_release")
        self.assertEqual(row["findings"], ["typo_domain"])
        p = m.ctl("queue")
        self.assertIn("typo_domain", p.stdout)
        rc, a = m.ctl_json("release", qid)
        self.assertEqual(rc, 0, a)
        # It leaves awaiting_release and is handed to the relay (the test
        # Postfix cannot deliver to gmial.com; any outcome is fine).
        m.wait_event("released", qid, timeout=DELIVERY_TIMEOUT)
        self.assertNotEqual(self.state(m, qid), "awaiting_release")
        rc, a = m.ctl_json("show", qid)
        self.assertGreaterEqual(a["result"]["attempts"] + (
            a["result"]["state"] == "releasing"), 1)

    def test_admin_errors_and_usage(self):
        m = self.start()
        p = m.ctl("show", "0123456789abcdef")
        self.assertEqual(p.returncode, 1)
        self.assertIn("unknown id", p.stderr)
        rc, a = m.ctl_json("release", "0123456789abcdef")
        self.assertEqual(rc, 1)
        self.assertEqual(a["error"], "unknown id")
        # Usage errors never reach the daemon: exit 2.
        for args in (["bogus"], ["show"], ["show", "xyz"],
                     ["release"], ["queue", "--state", "nope"],
                     ["release", "0123456789abcdef", "--sender", "a@b"]):
            p = m.ctl(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
        # A hostile client on the raw socket: one JSON error, then close.
        import socket as so
        for req, want in ((b"stats\r\n", "CR in request"),
                          (b"sta\x00ts\n", "NUL in request"),
                          (b"stats  x\n", "malformed request"),
                          (b"x" * 4096, "request too long")):
            s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
            s.settimeout(5)
            s.connect(m.control_socket)
            s.sendall(req)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            ans = json.loads(data)
            self.assertFalse(ans["ok"])
            self.assertTrue(ans["error"].startswith(want), ans)

    def test_admin_backup_while_running(self):
        m = self.start()
        tag = uuid.uuid4().hex[:10]
        ids = [self.send(m, tag + str(i)) for i in range(3)]
        d = tempfile.mkdtemp(prefix="mhtest-backup-")
        self.addCleanup(shutil.rmtree, d, True)
        dest = os.path.join(d, "copy.db")
        # Light load meanwhile: the copy is one snapshot, writers go on.
        stop = threading.Event()
        sent = []

        def load():
            i = 0
            while not stop.is_set() and i < 50:
                r = smtp_send(m.port, SENDER, ["load@example.org"],
                              message(tag + "load%d" % i, "load@example.org", SENDER))
                sent.append(r.queue_id)
                i += 1
        t = threading.Thread(target=load)
        t.start()
        try:
            rc, a = m.ctl_json("backup", dest)
        finally:
            stop.set()
            t.join(30)
        self.assertEqual(rc, 0, a)
        self.assertEqual(a["result"]["file"], dest)
        self.assertEqual(os.stat(dest).st_mode & 0o777, 0o600)
        self.assertFalse(os.path.exists(dest + "-wal"))
        db = sqlite3.connect(dest)
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "delete")
            have = {r[0] for r in db.execute("SELECT id FROM messages")}
        finally:
            db.close()
        self.assertTrue(set(ids) <= have, (ids, have))
        self.assertEqual(a["result"]["bytes"], os.stat(dest).st_size)
        # Restore (docs/ADMIN.md section 8): a daemon started on the copy
        # has the held messages.
        restored = os.path.join(d, "restored.db")
        shutil.copy(dest, restored)
        m2 = self.mailhold(upstream_port=self.up.port,
                           config={"hold": {"default": "1h"}, "queue": {"path": restored}})
        rc2, q2 = m2.ctl_json("queue")
        self.assertEqual(rc2, 0, q2)
        self.assertTrue(set(ids) <= {x["id"] for x in q2["result"]}, q2)
        m2.stop()
        m.wait_log(r"event=ctl_backup actor=ctl:uid=0 file=\"%s\" bytes=\d+ "
                   r"result=ok" % re.escape(dest), timeout=5)
        # Never over an existing file, never the queue itself, and a
        # relative name is the caller's directory, not the daemon's.
        p = m.ctl("backup", dest)
        self.assertEqual(p.returncode, 1)
        self.assertIn("exists", p.stderr)
        p = m.ctl("backup", m.queue_path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("queue database itself", p.stderr)
        p = subprocess.run([mailholdctl_bin(), "-s", m.control_socket, "backup",
                            "rel.db"], cwd=d, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(d, "rel.db")))
        # A directory the daemon cannot write: a clear error, no file.
        p = m.ctl("backup", os.path.join(d, "no", "such", "dir.db"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot create", p.stderr)

    def test_admin_not_running(self):
        m = self.start()
        sock = m.control_socket
        self.assertTrue(os.path.exists(sock))
        m.stop()
        self.assertFalse(os.path.exists(sock))      # removed at exit
        p = mailholdctl("stats", socket_path=sock)
        self.assertEqual(p.returncode, 3)
        self.assertIn("mailhold is not running (no socket at %s)" % sock, p.stderr)
        # -c CONFIG finds the socket through control.socket.
        p = mailholdctl("stats", config_path=m.config_path)
        self.assertEqual(p.returncode, 3)
        self.assertIn("not running", p.stderr)
        # A stale socket file (daemon killed) is removed at the next start.
        m.start()
        m.kill9()
        self.assertTrue(os.path.exists(sock))
        p = mailholdctl("stats", socket_path=sock)
        self.assertEqual(p.returncode, 3)
        m.start()
        m.wait_log(r"removing stale socket", timeout=2)
        p = mailholdctl("stats", config_path=m.config_path)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_admin_permission_denied(self):
        runner = None
        if shutil.which("setpriv"):
            runner = ("setpriv", "--reuid=nobody", "--regid=nogroup",
                      "--clear-groups")
        elif shutil.which("runuser"):
            runner = ("runuser", "-u", "nobody", "--")
        if os.getuid() != 0 or runner is None:
            self.skipTest("needs root and setpriv/runuser")
        m = self.start()
        st = os.stat(m.control_socket)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        # nobody must be able to reach the socket's directory to get EACCES
        # from the socket itself (not from the path).
        os.chmod(m.tmpdir, 0o711)
        p = m.ctl("stats", user_cmd=runner)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("permission denied: %s" % m.control_socket, p.stderr)
        # Root, the owner, still may.
        self.assertEqual(m.ctl("stats").returncode, 0)
        # A member of control.group may use the socket, but not have the
        # daemon write a file of its choosing (backup).
        os.chmod(m.control_socket, 0o666)
        p = m.ctl("stats", user_cmd=runner)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        dest = os.path.join(m.tmpdir, "not-yours.db")
        p = m.ctl("backup", dest, user_cmd=runner)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("backup is for root or the daemon's user", p.stderr)
        self.assertFalse(os.path.exists(dest))

    def test_admin_stats_and_reload(self):
        m = self.start()
        rc, a = m.ctl_json("stats")
        self.assertEqual(rc, 0, a)
        self.assertEqual(a["result"]["states"]["held"], 0)
        self.assertGreaterEqual(a["result"]["uptime"], 0)
        q = self.send(m, uuid.uuid4().hex[:10])
        rc, a = m.ctl_json("stats")
        self.assertEqual(a["result"]["states"]["held"], 1)
        m.ctl("cancel", q)
        rc, a = m.ctl_json("stats")
        self.assertEqual(a["result"]["states"]["held"], 0)
        self.assertEqual(a["result"]["states"]["cancelled"], 1)
        p = m.ctl("stats")
        self.assertRegex(p.stdout, r"(?m)^cancelled\s+1$")

        # reload: a new hold.default applies to the next message.
        m.update_config({"hold": {"default": "2s"}})
        p = m.ctl("reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        m.wait_log(r"event=reload result=ok", timeout=2)
        q2 = self.send(m, uuid.uuid4().hex[:10])
        m.wait_event("sent", q2, timeout=DELIVERY_TIMEOUT)
        # A broken config: error, exit 1, the daemon keeps serving.
        with open(m.config_path, "a") as f:
            f.write("bogus: 1\n")
        p = m.ctl("reload")
        self.assertEqual(p.returncode, 1)
        self.assertIn("bogus: unknown section", p.stderr)
        self.assertEqual(m.ctl("stats").returncode, 0)
        m.wait_log(r'event=reload result=failed error="[^"]*bogus: unknown '
                   r'section[^"]*" keeping="the running config"', timeout=2)

    def test_admin_retention_purges_final_messages(self):
        """queue.retention: a sent message goes (body, recipients, audit)
        once its retention has passed; a held one stays."""
        m = self.start(hold={"default": "1s"})
        m.update_config({"queue": {"retention": "2s"}})
        self.assertEqual(m.ctl("reload").returncode, 0)
        t = uuid.uuid4().hex[:10]
        r = smtp_send(m.port, SENDER, ["rcpt@example.org"], message(t))
        m.wait_event("sent", r.queue_id, timeout=DELIVERY_TIMEOUT)
        m.update_config({"hold": {"default": "1h"}})
        self.assertEqual(m.ctl("reload").returncode, 0)
        q2 = self.send(m, uuid.uuid4().hex[:10])
        m.wait_log(r"event=purge messages=1 ", timeout=15)
        db = sqlite3.connect(m.queue_path, timeout=5)
        try:
            n = [db.execute(q, (r.queue_id,)).fetchone()[0] for q in (
                "SELECT count(*) FROM messages WHERE id=?",
                "SELECT count(*) FROM bodies WHERE msg_id=?",
                "SELECT count(*) FROM recipients WHERE msg_id=?",
                "SELECT count(*) FROM audit WHERE msg_id=?")]
        finally:
            db.close()
        self.assertEqual(n, [0, 0, 0, 0])
        self.assertEqual(self.state(m, q2), "held")

    def test_admin_json_logs_after_reload(self):
        """log.format json (set by a reload): every line after it is one
        JSON object, and each message's lines carry its queue id."""
        m = self.start()
        m.update_config({"log": {"format": "json"}, "hold": {"default": "1s"}})
        mark = m.log_mark()
        self.assertEqual(m.ctl("reload").returncode, 0)
        t = uuid.uuid4().hex[:10]
        r = smtp_send(m.port, SENDER, ["rcpt@example.org"], message(t))
        m.wait_log(r'"id":"%s","event":"sent"' % r.queue_id,
                   timeout=DELIVERY_TIMEOUT, since=mark)
        lines = [x for x in m.log_text(since=mark).splitlines()
                 if x.startswith("{")]
        self.assertTrue(lines)
        objs = [json.loads(x) for x in lines]
        for o in objs:
            self.assertIn(o["level"], ("debug", "info", "warn", "error"))
            self.assertIn("ts", o)
        ev = {o.get("event") for o in objs if o.get("id") == r.queue_id}
        self.assertTrue({"received", "held", "released", "sent"} <= ev, ev)


class HoldWindowTest(AdminTest):
    """mailholdctl hold get/set/unset (issue 6): the window is stored in
    the queue database, survives a restart, is audit-logged, applies to
    the next message, and with --reschedule to those already held."""

    # The inherited tests run once, in AdminTest.
    for _n in [n for n in dir(AdminTest) if n.startswith("test_")]:
        locals()[_n] = None
    del _n

    def window(self, m, qid):
        db = sqlite3.connect(m.queue_path, timeout=5)
        try:
            return db.execute("SELECT release_at - received_at FROM messages"
                              " WHERE id=?", (qid,)).fetchone()[0]
        finally:
            db.close()

    def test_hold_set_applies_to_next_message_and_survives_restart(self):
        m = self.start()
        q1 = self.send(m, uuid.uuid4().hex[:10])
        self.assertIn(self.window(m, q1), (3600, 3601))
        p = m.ctl("hold", "set", "10m")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("10m", p.stdout)
        q2 = self.send(m, uuid.uuid4().hex[:10])
        self.assertIn(self.window(m, q2), (600, 601))
        self.assertIn(self.window(m, q1), (3600, 3601))   # untouched
        # Audited with who did it.
        db = sqlite3.connect(m.queue_path, timeout=5)
        try:
            row = db.execute("SELECT actor, what, old, new FROM admin_audit"
                             " ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            db.close()
        self.assertEqual(row, ("ctl:uid=%d" % os.getuid(), "hold default",
                               None, "600"))
        # Survives a restart.
        m.restart()
        q3 = self.send(m, uuid.uuid4().hex[:10])
        self.assertIn(self.window(m, q3), (600, 601))
        rc, a = m.ctl_json("hold", "get")
        self.assertEqual(rc, 0, a)
        self.assertEqual(a["result"]["config"]["default"], 3600)
        self.assertEqual([(x["scope"], x["hold"]) for x in a["result"]["set"]],
                         [("default", 600)])
        # unset: the config's window again.
        p = m.ctl("hold", "unset")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        q4 = self.send(m, uuid.uuid4().hex[:10])
        self.assertIn(self.window(m, q4), (3600, 3601))

    def test_hold_user_and_domain_windows(self):
        m = self.start()
        self.assertEqual(m.ctl("hold", "set", "0", "--user", "fast@example.com")
                         .returncode, 0)
        self.assertEqual(m.ctl("hold", "set", "20m", "--domain", "example.net")
                         .returncode, 0)
        t = uuid.uuid4().hex[:10]
        r = smtp_send(m.port, "fast@example.com", ["x@example.org"],
                      message(t, "x@example.org", "fast@example.com"))
        m.wait_event("sent", r.queue_id, timeout=DELIVERY_TIMEOUT)
        q = self.send(m, uuid.uuid4().hex[:10], to="y@sub.example.net")
        self.assertIn(self.window(m, q), (1200, 1201))
        p = m.ctl("hold", "get")
        self.assertIn("fast@example.com", p.stdout)
        self.assertIn("example.net", p.stdout)

    def test_hold_reschedule_moves_held_messages(self):
        m = self.start()
        t = uuid.uuid4().hex[:10]
        q = self.send(m, t)
        p = m.ctl("hold", "set", "1s", "--reschedule")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1 held message(s) rescheduled", p.stdout)
        m.wait_event("sent", q, timeout=DELIVERY_TIMEOUT)
        self.up.wait_for(1, DELIVERY_TIMEOUT, pred=lambda x: t.encode() in x.raw)

    def test_hold_errors(self):
        m = self.start()
        for args, want in ((("hold", "set", "3h"), "hold.max"),
                           (("hold", "set", "10x"), "DURATION"),
                           (("hold", "set", "5m", "--rule", "nope"), "unknown rule"),
                           (("hold", "set", "5m", "--user", "a", "--domain", "b.c"),
                            "one of"),
                           (("hold", "unset", "--reschedule"), "--reschedule"),
                           (("hold", "unset", "--user", "nobody"),
                            "no such hold window"),
                           (("hold",), "get, set")):
            p = m.ctl(*args)
            self.assertNotEqual(p.returncode, 0, args)
            self.assertIn(want, p.stderr, args)


def scrape(port, token=None, path="/metrics"):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        h = {"Authorization": "Bearer " + token} if token else {}
        c.request("GET", path, headers=h)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def samples(text):
    """{'name{labels}': float} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


class MetricsTest(AdminTest):
    """/metrics on its own loopback listener moves as messages pass."""

    for _n in [n for n in dir(AdminTest) if n.startswith("test_")]:
        locals()[_n] = None
    del _n

    def test_metrics_counters_move(self):
        m = self.start()
        port = int(m.config["metrics"]["port"])
        st, text = scrape(port)
        self.assertEqual(st, 200)
        a = samples(text)
        self.assertEqual(a["mailhold_messages_received_total"], 0)
        t1, t2 = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
        q1, q2 = self.send(m, t1), self.send(m, t2)
        self.assertEqual(m.ctl("release", q1).returncode, 0)
        self.assertEqual(m.ctl("cancel", q2).returncode, 0)
        m.wait_event("sent", q1, timeout=DELIVERY_TIMEOUT)
        st, text = scrape(port)
        b = samples(text)
        self.assertEqual(b["mailhold_messages_received_total"], 2)
        self.assertEqual(b['mailhold_messages_held_total{mode="timer"}'], 2)
        self.assertEqual(b["mailhold_messages_released_total"], 1)
        self.assertEqual(b["mailhold_messages_sent_total"], 1)
        self.assertEqual(b['mailhold_messages_cancelled_total{by="ctl"}'], 1)
        self.assertEqual(b['mailhold_queue_messages{state="cancelled"}'], 1)
        self.assertEqual(b['mailhold_queue_messages{state="sent"}'], 1)
        self.assertEqual(b["mailhold_upstream_latency_seconds_count"], 1)
        self.assertIn("mailhold_smtp_sessions", b)
        self.assertGreater(b["mailhold_start_time_seconds"], 0)
        self.assertEqual(scrape(port, path="/")[0], 404)

    def test_metrics_loop_lag(self):
        """The loop-lag histogram exists from the start and its timer
        keeps ticking (every 0.1 s) while the daemon idles."""
        m = self.start()
        port = int(m.config["metrics"]["port"])
        st, text = scrape(port)
        self.assertEqual(st, 200)
        self.assertIn("# TYPE mailhold_event_loop_lag_seconds histogram\n",
                      text)
        first = samples(text)["mailhold_event_loop_lag_seconds_count"]
        deadline = time.monotonic() + 20
        while True:
            b = samples(scrape(port)[1])
            n = b["mailhold_event_loop_lag_seconds_count"]
            if n >= first + 5 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(n, first + 5)
        les = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
               "0.25", "0.5", "1", "2.5", "5", "+Inf"]
        cum = [b['mailhold_event_loop_lag_seconds_bucket{le="%s"}' % le]
               for le in les]
        self.assertEqual(cum, sorted(cum))      # cumulative buckets
        self.assertEqual(cum[-1], n)
        self.assertGreaterEqual(b["mailhold_event_loop_lag_seconds_sum"], 0)

    def test_metrics_bearer_token(self):
        tmp = self.mkdtemp_token()
        m = self.mailhold(upstream_port=self.up.port, config={
            "metrics": {"token_file": tmp}})
        port = int(m.config["metrics"]["port"])
        self.assertEqual(scrape(port)[0], 401)
        self.assertEqual(scrape(port, token="x" * 32)[0], 401)
        st, text = scrape(port, token="s3cret-token-0123456789")
        self.assertEqual(st, 200)
        self.assertIn("mailhold_build_info", text)
        self.assertNotIn("s3cret-token-0123456789", m.log_text())

    def mkdtemp_token(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="mhtest-tok-")
        self.addCleanup(shutil.rmtree, d, True)
        p = os.path.join(d, "token")
        with open(p, "w") as f:
            f.write("s3cret-token-0123456789\n")
        os.chmod(p, 0o600)
        return p
