#!/usr/bin/env python3
"""contrib/demo-alert.py - the newest alert mail in the demo's mailbox.

The demo upstream (smtp-sink) stores each message it gets in
var/demo-mail/.  Alert mails are MIME (base64 parts), so this prints the
newest one's subject, its text part and the link to the sender's page:

    contrib/demo-alert.py            # then open the link in a browser
"""
import email
import email.policy
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    files = sorted(glob.glob(os.path.join(ROOT, "var", "demo-mail", "*")),
                   key=os.path.getmtime, reverse=True)
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        # smtp-sink's dump starts with its own lines; the message follows
        # the first header that looks like one of ours.
        i = raw.find(b"\nAuto-Submitted: auto-generated")
        if i < 0:
            continue
        start = raw.rfind(b"\n\n", 0, i)
        msg = email.message_from_bytes(raw[start + 2 if start >= 0 else 0:],
                                       policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        print("file:    %s" % path)
        print("subject: %s\n" % msg["Subject"])
        print(body.get_content() if body else "(no text part)")
        return 0
    print("no alert in var/demo-mail/ yet: send a risky message, e.g.\n"
          "  swaks --server 127.0.0.1:2525 --from you@example.org "
          "--to friend@gmial.com", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
