"""mailholdctl against the real daemon and the real Postfix upstream
(issue 6, part 1): queue, show, release, cancel (also --sender), stats,
reload, and the clear errors: unknown id, wrong state, daemon not
running, a socket the caller may not use.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MailholdTestCase, crlf, mailholdctl, smtp_send  # noqa: E402
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
        self.assertGreater(rows[q1]["next_attempt"], time.time() + 3000)
        p = m.ctl("queue")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(q1, p.stdout)
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
