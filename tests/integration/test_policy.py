"""The policy inside the real daemon (issue 4): verdicts decide the hold,
rewrite_to_bcc reaches the upstream rewritten, reject is refused at end of
data, hold_for_release waits and expires, history grows only on "sent",
and `mailhold check` gives the same verdicts from the command line.

Every rule the tests rely on is set explicitly in the test's config, so a
change of the shipped defaults does not change what is tested.
"""

import email
import json
import os
import smtplib
import sqlite3
import subprocess
import sys
import time
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
        m.wait_event("sent", r1.queue_id, timeout=DELIVERY_TIMEOUT)
        time.sleep(0.5)     # the history row commits with the attempt
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
