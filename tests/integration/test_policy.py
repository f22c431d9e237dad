"""The policy inside the real daemon (issue 4): verdicts decide the hold,
rewrite_to_bcc reaches the upstream rewritten, reject is refused at end of
data, hold_for_release waits and expires, history grows only on "sent",
and `mailhold check` gives the same verdicts from the command line.

Every rule the tests rely on is set explicitly in the test's config, so a
change of the shipped defaults does not change what is tested; except in
ShippedDefaultsTest (issue 17), which runs an ordinary working day on the
defaults as shipped.
"""

import email
import json
import os
import smtplib
import sqlite3
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MailholdTestCase, crlf, mailhold_bin, smtp_send  # noqa: E402
from upstream import PostfixUpstream  # noqa: E402

SENDER = "sender@example.com"
DELIVERY_TIMEOUT = 10.0


def message(tag, to=("rcpt@example.org",), cc=(), subject="policy"):
    lines = ["From: Sender <%s>" % SENDER,
             "To: " + ", ".join(to)]
    if cc:
        lines.append("Cc: " + ", ".join(cc))
    lines += ["Subject: %s %s" % (subject, tag),
              "Message-ID: <%s@example.com>" % tag,
              "", "Hello %s." % tag, ""]
    return crlf("\r\n".join(lines).encode())


def rules(**over):
    """Every rule off but the ones named (dicts of their settings)."""
    names = ["typo_domain", "confusable_tld", "blocked_domains",
             "visible_recipients", "first_time_recipient",
             "external_recipient", "burst", "cc_carryover",
             "sensitive_content", "malformed_header"]
    r = {n: {"enabled": False, "hold": 0} for n in names}
    for k, v in over.items():
        r[k] = dict({"enabled": True, "hold": 0}, **v)
    return r


class PolicyTest(MailholdTestCase):

    @classmethod
    def setUpClass(cls):
        cls.up = PostfixUpstream()

    @classmethod
    def tearDownClass(cls):
        cls.up.close()

    def start(self, policy=None, hold=None):
        cfg = {"hold": dict({"default": "1s", "max": "1h"}, **(hold or {})),
               "policy": dict({"internal_domains": ["example.com"]},
                              **(policy or {}))}
        return self.mailhold(upstream_port=self.up.port, config=cfg)

    def state(self, m, qid):
        db = sqlite3.connect(m.queue_path, timeout=5)
        try:
            row = db.execute("SELECT state, verdict FROM messages WHERE id=?",
                             (qid,)).fetchone()
        finally:
            db.close()
        return row

    def test_blocked_domain_rejected_at_end_of_data(self):
        m = self.start({"blocked_domains": ["*.invalid"],
                        "rules": rules(blocked_domains={})})
        tag = uuid.uuid4().hex[:10]
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            smtp_send(m.port, SENDER, ["x@host.invalid"],
                      message(tag, to=["x@host.invalid"]))
        self.assertEqual(cm.exception.smtp_code, 550)
        self.assertIn(b"5.7.1", cm.exception.smtp_error)
        m.wait_log(r"event=finding rule=blocked_domains", timeout=5)
        db = sqlite3.connect(m.queue_path)
        self.assertEqual(db.execute("SELECT count(*) FROM messages").fetchone()[0], 0)
        db.close()

    def test_rewrite_to_bcc_reaches_upstream_rewritten(self):
        m = self.start({"rules": rules(visible_recipients={
            "action": "rewrite_to_bcc", "max_external": 2, "min_orgs": 0})})
        tag = uuid.uuid4().hex[:10]
        to = ["a%s@example.org" % i for i in range(3)]
        r = smtp_send(m.port, SENDER, to + ["c@example.net"],
                      message(tag, to=to, cc=["c@example.net"]))
        m.wait_event("sent", r.queue_id, timeout=DELIVERY_TIMEOUT)
        got = self.up.wait_for(4, DELIVERY_TIMEOUT, settle=0.5,
                               pred=lambda x: tag.encode() in x.raw)
        # The envelope is untouched: every recipient gets the message...
        self.assertEqual(sorted(x.recipient for x in got),
                         sorted(to + ["c@example.net"]))
        for x in got:
            msg = email.message_from_bytes(x.raw)
            # ...but nobody sees the others' addresses.
            self.assertEqual(msg["To"], "undisclosed-recipients:;")
            self.assertIsNone(msg["Cc"])
            self.assertEqual(msg["Subject"], "policy %s" % tag)
            self.assertIn(("Hello %s." % tag).encode(), x.raw)
        st, verdict = self.state(m, r.queue_id)
        self.assertEqual(json.loads(verdict)["action"], "rewrite_to_bcc")

    def test_hold_for_release_waits_then_expires(self):
        m = self.start({"rules": rules(typo_domain={"action": "hold_for_release"})},
                       hold={"max": "3s"})
        tag = uuid.uuid4().hex[:10]
        r = smtp_send(m.port, SENDER, ["friend@gmial.com"],
                      message(tag, to=["friend@gmial.com"]))
        m.wait_log(r"id=%s event=awaiting_release" % r.queue_id, timeout=5)
        st, verdict = self.state(m, r.queue_id)
        self.assertEqual(st, "awaiting_release")
        v = json.loads(verdict)
        self.assertEqual(v["findings"][0]["rule"], "typo_domain")
        self.assertEqual(v["findings"][0]["suggestion"], "friend@gmail.com")
        # Never released by the timer; cancelled at expiry (hold.max).
        m.wait_log(r"id=%s event=expired" % r.queue_id, timeout=8)
        self.assertEqual(self.state(m, r.queue_id)[0], "cancelled")
        self.assertEqual(m.log_events("released", r.queue_id), [])

    def test_audit_mode_changes_nothing(self):
        m = self.start({"rules": rules(typo_domain={"action": "hold_for_release",
                                                     "mode": "audit"})})
        tag = uuid.uuid4().hex[:10]
        r = smtp_send(m.port, SENDER, ["x@gmial.com"],
                      message(tag, to=["x@gmial.com"]))
        m.wait_log(r"id=%s event=finding rule=typo_domain mode=audit" % r.queue_id,
                   timeout=5)
        m.wait_log(r"id=%s event=held " % r.queue_id, timeout=5)
        m.wait_event("released", r.queue_id, timeout=DELIVERY_TIMEOUT)

    def test_first_time_then_known_after_sent(self):
        m = self.start({"rules": rules(first_time_recipient={"action": "hold"})})
        tag = uuid.uuid4().hex[:10]
        r1 = smtp_send(m.port, SENDER, ["new1@example.org"],
                       message(tag, to=["new1@example.org"]))
        m.wait_log(r"id=%s event=finding rule=first_time_recipient" % r1.queue_id,
                   timeout=5)
        # "sent" is logged once the attempt (and its history row) has
        # been committed: no wait needed, the queue already says so.
        m.wait_event("sent", r1.queue_id, timeout=DELIVERY_TIMEOUT)
        rc, shown = m.ctl_json("show", r1.queue_id)
        self.assertEqual((rc, shown["result"]["state"]), (0, "sent"), shown)
        r2 = smtp_send(m.port, SENDER, ["NEW1@example.org"],
                       message(tag + "b", to=["new1@example.org"]))
        m.wait_log(r"id=%s event=verdict action=hold hold=1 findings=0" % r2.queue_id,
                   timeout=5)

    def test_mailhold_check_cli(self):
        m = self.start({"rules": rules(typo_domain={"action": "hold_for_release"})})
        path = os.path.join(m.tmpdir, "typo.eml")
        with open(path, "wb") as f:
            f.write(message("cli", to=["friend@gmial.com"]))
        cfg = m.config_path
        p = subprocess.run([mailhold_bin(), "check", "-c", cfg, "--explain", path],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)      # hold_for_release
        first = p.stdout.decode().splitlines()[0]
        v = json.loads(first)
        self.assertEqual(v["action"], "hold_for_release")
        self.assertIn("gmail.com", p.stdout.decode())
        # An ordinary internal message: exit 0 (hold).
        with open(path, "wb") as f:
            f.write(message("cli2", to=["colleague@example.com"]))
        p = subprocess.run([mailhold_bin(), "check", "-c", cfg, path],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(json.loads(p.stdout)["findings"], [])
        # Usage errors and unreadable files have their own codes.
        p = subprocess.run([mailhold_bin(), "check", "-c", cfg, "/nonexistent.eml"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 65)


    def test_released_burst_does_not_hold_the_next_message(self):
        """Issue 17: a burst the sender released no longer holds the next
        message; one not released still does (the stolen-account case)."""
        m = self.start({"rules": rules(burst={
            "action": "hold_for_release", "window": "1h", "max_messages": 100,
            "max_recipients": 1000, "max_first_time": 3})})
        tag = uuid.uuid4().hex[:10]
        spray = ["new%d-%s@example.org" % (i, tag) for i in range(4)]
        r1 = smtp_send(m.port, SENDER, spray, message(tag + "a", to=spray))
        m.wait_log(r"id=%s event=awaiting_release" % r1.queue_id, timeout=5)
        # Not yet released: the next message is held for the same burst.
        one = ["other-%s@example.org" % tag]
        r2 = smtp_send(m.port, SENDER, one, message(tag + "b", to=one))
        m.wait_log(r"id=%s event=awaiting_release" % r2.queue_id, timeout=5)
        # The sender (here through mailholdctl) releases the first one...
        p = m.ctl("release", r1.queue_id)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m.wait_event("sent", r1.queue_id, timeout=DELIVERY_TIMEOUT)
        # ...and the next ordinary message, to someone new, is plainly held.
        three = ["third-%s@example.org" % tag]
        r3 = smtp_send(m.port, SENDER, three, message(tag + "c", to=three))
        m.wait_log(r"id=%s event=verdict action=hold hold=1 findings=0"
                   % r3.queue_id, timeout=5)
        self.assertEqual(m.log_events("awaiting_release", r3.queue_id), [])
        # The one sent before the release still waits for its own.
        self.assertEqual(self.state(m, r2.queue_id)[0], "awaiting_release")


def folded_message(tag, to, subject):
    """A message whose To: lists many addresses, one per folded line."""
    lines = ["From: Sender <%s>" % SENDER,
             "To: " + ",\r\n ".join(to),
             "Subject: %s %s" % (subject, tag),
             "Message-ID: <%s@example.com>" % tag,
             "", "Hello %s." % tag, ""]
    return crlf("\r\n".join(lines).encode())


class ShippedDefaultsTest(MailholdTestCase):
    """Issue 17: an ordinary working day on the shipped defaults (no
    policy settings; hold.default, limits and alerts as shipped)."""

    @classmethod
    def setUpClass(cls):
        cls.up = PostfixUpstream()

    @classmethod
    def tearDownClass(cls):
        cls.up.close()

    def start_shipped(self):
        m = self.mailhold(upstream_port=self.up.port, start=False)
        # Back to the shipped values the harness changes for speed.
        del m.config["limits"]["max_recipients"]
        del m.config["hold"]
        del m.config["notify"]
        self.assertNotIn("policy", m.config)
        m.write_config()
        m.start()
        return m

    def message_row(self, m, qid):
        db = sqlite3.connect(m.queue_path, timeout=5)
        try:
            return db.execute(
                "SELECT state, verdict, release_at - received_at,"
                " (SELECT count(*) FROM recipients WHERE msg_id = id)"
                " FROM messages WHERE id = ?", (qid,)).fetchone()
        finally:
            db.close()

    def assert_plainly_held(self, m, qid, nrcpts):
        m.wait_log(r"id=%s event=held " % qid, timeout=5)
        st, verdict, hold, n = self.message_row(m, qid)
        v = json.loads(verdict)
        self.assertEqual(st, "held")
        self.assertEqual(n, nrcpts)
        self.assertEqual(v["action"], "hold", verdict)
        self.assertEqual(v["findings"], [], verdict)
        self.assertEqual(v["hold"], 300)        # hold.default as shipped
        self.assertIn(hold, (300, 301, 302))    # counted from end of data
        self.assertEqual(m.log_events("awaiting_release", qid), [])
        self.assertEqual(m.log_events("alert", qid), [])

    def test_all_hands_to_150_colleagues_is_ordinary(self):
        m = self.start_shipped()
        tag = uuid.uuid4().hex[:10]
        staff = ["staff%03d-%s@example.com" % (i, tag) for i in range(150)]
        # All 150 accepted (limits.max_recipients), none refused.
        r1 = smtp_send(m.port, SENDER, staff,
                       folded_message(tag + "a", staff, "All hands"))
        self.assert_plainly_held(m, r1.queue_id, 150)
        # The next plain message to one colleague: the same normal hold.
        one = ["colleague-%s@example.com" % tag]
        r2 = smtp_send(m.port, SENDER, one, message(tag + "b", to=one))
        self.assert_plainly_held(m, r2.queue_id, 1)
