"""A private Debian Postfix instance on loopback: the real upstream in tests.

Python 3 standard library only.

Each PostfixUpstream owns a temporary directory that holds everything the
instance uses:

    TMP/etc/main.cf, master.cf, recipient_access   (config_directory)
    TMP/queue/                                      (queue_directory)
    TMP/data/                                       (data_directory)
    TMP/maillog                                     (maillog_file, postlogd)
    TMP/mail/Maildir/{tmp,new,cur}                  (virtual(8) delivery)

Delivery: virtual(8) accepts every address in the test domains
(example.org, example.com, example.net, mailhold.test) through
``virtual_mailbox_maps = static:Maildir/`` into one Maildir, running as
nobody:nogroup (static uid/gid maps; virtual(8) refuses uid 0).  virtual(8)
prepends Return-Path:, X-Original-To: and Delivered-To:, which carry the
envelope; messages() reads them back.  Nothing is ever delivered anywhere
else: default/relay/local transports are error(8) and relaying to other
domains is refused at RCPT time (554 relay access denied).

TLS (optional): with tls_cert/tls_key the instance offers STARTTLS on its
port (smtpd_tls_security_level = may, smtpd_tls_received_header = yes, so a
delivered message's Received: says "using TLS..."; smtpd_tls_loglevel = 1 so
the maillog says "TLS connection established").  tls_wrapper=True adds a
second listener on self.wrapper_port with smtpd_tls_wrappermode=yes
(implicit TLS, "port 465").

SASL (optional): sasl_users={user: password} turns on Cyrus SASL with a
sasldb in TMP/etc/sasl (smtpd.conf: pwcheck_method auxprop, auxprop_plugin
sasldb, mech_list from sasl_mechs), realm SASL_REALM.  127.0.0.1 is then
not in mynetworks and recipients are accepted only for authenticated
clients (check_recipient_access first, then permit_sasl_authenticated,
reject): an unauthenticated client gets 554 at RCPT.  sasl_tls_only=True
offers AUTH only after STARTTLS (smtpd_tls_auth_only).

Hold mode (benchmark peer): ``smtpd_client_restrictions =
check_client_access static:HOLD``; every accepted message sits in the hold
queue, nothing is delivered.

Start: ``postfix -c DIR start``; stop: ``postfix -c DIR stop``; close()
also kills any process left over by pid (the master's pid file, and
processes whose environment carries MAIL_CONFIG=DIR) and deletes TMP.
close() runs from __exit__, from an atexit hook and from a weakref finaliser,
so a failing test does not leave a Postfix behind.
"""

import atexit
import os
import re
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import weakref

__all__ = ["PostfixUpstream", "DeliveredMessage", "free_port", "UpstreamError",
           "SASL_REALM"]

TEST_DOMAINS = ("example.org", "example.com", "example.net", "mailhold.test")
# virtual(8) delivers as this uid/gid (Debian's nobody:nogroup); it must be
# >= virtual_minimum_uid (100) and able to write the Maildir.
MAIL_UID = 65534
MAIL_GID = 65534
DEFAULT_REJECT = {
    "reject@example.org": "550 5.1.1 mhtest-upstream-rejects-this-recipient",
}
QUEUE_INFLIGHT = ("maildrop", "incoming", "active", "deferred")
SASL_REALM = "mhtest"
CONNECT_RE = re.compile(r"\bpostfix[^:]*/smtpd\[\d+\]: connect from ")


class UpstreamError(RuntimeError):
    pass


def free_port(host="127.0.0.1"):
    """A TCP port that is free right now on host (bind to 0, read, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _port_open(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _split_header_block(raw):
    """(list of (name_lower, full_field_bytes), body_bytes_after_blank_line).

    raw uses LF line ends (as in a Maildir file).  Continuation lines are
    kept with their field.
    """
    fields = []
    pos = 0
    n = len(raw)
    while pos < n:
        eol = raw.find(b"\n", pos)
        line_end = n if eol < 0 else eol + 1
        line = raw[pos:line_end]
        if line in (b"\n", b"\r\n"):
            return fields, raw[line_end:]
        if line[:1] in (b" ", b"\t") and fields:
            name, val = fields[-1]
            fields[-1] = (name, val + line)
        else:
            colon = line.find(b":")
            name = line[:colon].strip().lower() if colon > 0 else b""
            fields.append((name, line))
        pos = line_end
    return fields, b""


def _header_value(field):
    v = field.split(b":", 1)[1] if b":" in field else b""
    return b" ".join(v.split()).decode("utf-8", "replace")


def _angle(v):
    m = re.search(r"<([^>]*)>", v)
    return m.group(1) if m else v.strip()


class DeliveredMessage:
    """One message as virtual(8) wrote it into the Maildir.

    raw:        the file's bytes (LF line ends, trace headers included)
    recipient:  envelope recipient (Delivered-To:), lower-case
    original_recipient: X-Original-To:
    sender:     envelope sender from Return-Path: ("" for the null sender)
    path, mtime
    """

    def __init__(self, path, raw, mtime):
        self.path = path
        self.raw = raw
        self.mtime = mtime
        fields, _ = _split_header_block(raw)
        self.recipient = None
        self.original_recipient = None
        self.sender = None
        # virtual(8) prepends exactly these three at the very top.
        for name, field in fields[:3]:
            if name == b"delivered-to" and self.recipient is None:
                self.recipient = _header_value(field).lower()
            elif name == b"x-original-to" and self.original_recipient is None:
                self.original_recipient = _header_value(field)
            elif name == b"return-path" and self.sender is None:
                self.sender = _angle(_header_value(field))

    @property
    def headers(self):
        """[(name_lower_str, value_str)] of every header field, in order."""
        fields, _ = _split_header_block(self.raw)
        return [(n.decode("ascii", "replace"), _header_value(f)) for n, f in fields]

    def header(self, name):
        """Values of every field called name (case-insensitive)."""
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    @property
    def body(self):
        return _split_header_block(self.raw)[1]

    def strip_trace(self, received=2):
        """raw minus virtual(8)'s Return-Path/X-Original-To/Delivered-To and
        the first `received` Received: fields at the top (Postfix's own, then
        mailhold's).  Returns (stripped_bytes, [removed Received: fields]).
        Raises ValueError if the top of the message does not look like that.
        """
        fields, _ = _split_header_block(self.raw)
        pos = 0
        i = 0
        while i < len(fields) and fields[i][0] in (b"return-path", b"x-original-to",
                                                   b"delivered-to"):
            pos += len(fields[i][1])
            i += 1
        removed = []
        for _ in range(received):
            if i >= len(fields) or fields[i][0] != b"received":
                raise ValueError("expected %d Received: field(s) at the top, got %r"
                                 % (received, [f[0] for f in fields[:8]]))
            removed.append(fields[i][1])
            pos += len(fields[i][1])
            i += 1
        return self.raw[pos:], removed

    def __repr__(self):
        return "<DeliveredMessage to=%s from=%s %d bytes %s>" % (
            self.recipient, self.sender, len(self.raw), os.path.basename(self.path))


class PostfixUpstream:
    """A private Postfix on 127.0.0.1:<port>.

    Args:
      port:     TCP port (default: a free one).  Kept across stop()/start().
      reject:   {address: "5xx x.y.z text"} refused at RCPT via
                check_recipient_access texthash (default: reject@example.org
                -> 550 5.1.1 mhtest-upstream-rejects-this-recipient).
                Values may also be 4xx (temporary) or any access(5) action.
      hold_all: every accepted message goes to the hold queue (benchmark).
      start:    start at construction (default True).
      extra_main: extra main.cf lines (dict).
      tmp_root: parent of the temp dir (default: $TMPDIR or /tmp).
      tls_cert, tls_key: PEM files; offer STARTTLS with them.
      tls_wrapper: also listen on self.wrapper_port with implicit TLS
                (needs tls_cert/tls_key).
      sasl_users: {user: password}: Cyrus SASL (sasldb); relay only for
                authenticated clients.  sasl_mechs: mech_list.
      sasl_tls_only: AUTH only after STARTTLS.
      extra_listeners: list of {main.cf name: value} dicts; each adds an
                smtpd listener with those -o overrides, on the port
                self.extra_ports[i] (e.g. {"smtpd_sasl_mechanism_filter":
                "login"} for a LOGIN-only AUTH port).
    """

    def __init__(self, port=None, reject=None, hold_all=False, start=True,
                 extra_main=None, tmp_root=None, domains=TEST_DOMAINS,
                 tls_cert=None, tls_key=None, tls_wrapper=False,
                 sasl_users=None, sasl_mechs=("PLAIN", "LOGIN"), sasl_tls_only=False,
                 extra_listeners=None):
        if os.geteuid() != 0:
            raise UpstreamError("a private Postfix instance needs root "
                                "(postfix -c DIR start, virtual(8) delivery)")
        if not shutil.which("postfix", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            raise UpstreamError("postfix is not installed (contrib/setup-deps.sh)")
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.token = secrets.token_hex(4)
        self.hold_all = hold_all
        self.domains = tuple(domains)
        self.reject = dict(DEFAULT_REJECT if reject is None else reject)
        self.extra_main = dict(extra_main or {})
        if tls_wrapper and not (tls_cert and tls_key):
            raise UpstreamError("tls_wrapper needs tls_cert and tls_key")
        if sasl_tls_only and not (tls_cert and tls_key):
            raise UpstreamError("sasl_tls_only needs tls_cert and tls_key")
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.wrapper_port = free_port() if tls_wrapper else None
        self.extra_listeners = [dict(x) for x in (extra_listeners or [])]
        self.extra_ports = [free_port() for _ in self.extra_listeners]
        self.sasl_users = dict(sasl_users) if sasl_users else None
        self.sasl_mechs = tuple(sasl_mechs)
        self.sasl_tls_only = sasl_tls_only
        self.dir = tempfile.mkdtemp(prefix="mhtest-pf-", dir=tmp_root)
        # virtual(8) runs as nobody and must traverse to the Maildir.
        os.chmod(self.dir, 0o755)
        self.config_dir = os.path.join(self.dir, "etc")
        self.queue_dir = os.path.join(self.dir, "queue")
        self.data_dir = os.path.join(self.dir, "data")
        self.mail_base = os.path.join(self.dir, "mail")
        self.maildir = os.path.join(self.mail_base, "Maildir")
        self.maillog = os.path.join(self.dir, "maillog")
        # Debian's smtpd looks for smtpd.conf in $config_directory/sasl (then
        # /usr/lib/sasl) whatever cyrus_sasl_config_path says; set both.
        self.sasl_dir = os.path.join(self.config_dir, "sasl")
        self.hostname = "pf-%s.upstream.test" % self.token
        self.banner_tag = "mhtest-upstream-%s" % self.token
        self._closed = False
        self._running = False
        self._master_pid = None
        self._write_config()
        # Clean up however the test ends.
        self._finalizer = weakref.finalize(self, PostfixUpstream._cleanup,
                                           self.config_dir, self.queue_dir, self.dir)
        atexit.register(self._finalizer)
        if start:
            self.start()

    # ------------------------------------------------------------------ config

    def _main_cf(self):
        d = self.dir
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": "upstream.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "relayhost": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_banner": "$myhostname ESMTP %s" % self.banner_tag,
            "maillog_file": self.maillog,
            "maillog_file_prefixes": d,
            # No DNS, no outside delivery, no rewriting of the test mail.
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "default_transport": "error:mhtest upstream delivers nowhere else",
            "relay_transport": "error:mhtest upstream delivers nowhere else",
            "local_transport": "error:mhtest upstream has no local users",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            "local_header_rewrite_clients": "",
            "always_add_missing_headers": "no",
            "smtputf8_enable": "yes",
            "message_size_limit": "64000000",
            "mailbox_size_limit": "0",
            "virtual_mailbox_limit": "0",
            "line_length_limit": "2048",
            "recipient_delimiter": "",
            # Quick retries so a virtual(8) hiccup does not stall a test.
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0h",
            # Held mail never reaches the queue manager, which hands out the
            # in_flow_delay tokens; without this smtpd would doze up to 1 s
            # per message in hold mode.  (Conservative for the benchmark:
            # it only makes Postfix faster.)
            "in_flow_delay": "0",
            # Delivery: every address in the test domains -> one Maildir.
            "virtual_mailbox_domains": " ".join(self.domains),
            "virtual_mailbox_base": self.mail_base,
            "virtual_mailbox_maps": "static:Maildir/",
            "virtual_uid_maps": "static:%d" % MAIL_UID,
            "virtual_gid_maps": "static:%d" % MAIL_GID,
            "virtual_alias_maps": "",
            # Only the test domains; 127.0.0.1 may not relay elsewhere.
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "smtpd_recipient_restrictions": "check_recipient_access texthash:%s"
                                            % os.path.join(self.config_dir,
                                                           "recipient_access"),
            "smtpd_client_restrictions": ("check_client_access static:HOLD"
                                          if self.hold_all else ""),
        }
        if self.tls_cert:
            main.update({
                "smtpd_tls_cert_file": self.tls_cert,
                "smtpd_tls_key_file": self.tls_key,
                "smtpd_tls_security_level": "may",
                "smtpd_tls_loglevel": "1",
                "smtpd_tls_received_header": "yes",
                "smtpd_tls_session_cache_database": "",
            })
        if self.sasl_users:
            main.update({
                "smtpd_sasl_auth_enable": "yes",
                "smtpd_sasl_type": "cyrus",
                "smtpd_sasl_path": "smtpd",
                "cyrus_sasl_config_path": self.sasl_dir,
                "smtpd_sasl_local_domain": SASL_REALM,
                "smtpd_sasl_security_options": "noanonymous",
                "smtpd_tls_auth_only": "yes" if self.sasl_tls_only else "no",
                "broken_sasl_auth_clients": "no",
                # 127.0.0.1 is no longer trusted: only AUTH lets it relay.
                "mynetworks": "192.0.2.0/24",
                "smtpd_recipient_restrictions":
                    "check_recipient_access texthash:%s, permit_sasl_authenticated, reject"
                    % os.path.join(self.config_dir, "recipient_access"),
            })
        main.update(self.extra_main)
        return "".join("%s = %s\n" % kv for kv in main.items())

    def _master_cf(self):
        rows = [
            "%s:%d inet n - n - - smtpd" % (self.host, self.port),
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "proxywrite unix - - n - 1 proxymap",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "local unix - n n - - local",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        if self.tls_cert:
            rows.append("tlsmgr unix - - n 1000? 1 tlsmgr")
        if self.wrapper_port:
            rows.append("%s:%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes "
                        "-o smtpd_tls_security_level=encrypt" % (self.host, self.wrapper_port))
        for port, opts in zip(self.extra_ports, self.extra_listeners):
            rows.append("%s:%d inet n - n - - smtpd%s" % (
                self.host, port, "".join(" -o %s=%s" % kv for kv in opts.items())))
        return "".join(r + "\n" for r in rows)

    def _write_access(self):
        path = os.path.join(self.config_dir, "recipient_access")
        with open(path, "w") as f:
            for addr, action in self.reject.items():
                f.write("%s %s\n" % (addr, action))
        os.chmod(path, 0o644)

    def _write_config(self):
        os.makedirs(self.config_dir, mode=0o755, exist_ok=True)
        for name, text in (("main.cf", self._main_cf()), ("master.cf", self._master_cf())):
            p = os.path.join(self.config_dir, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o644)
        self._write_access()
        os.makedirs(self.queue_dir, mode=0o755, exist_ok=True)
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        shutil.chown(self.data_dir, "postfix", "postfix")
        os.makedirs(self.mail_base, mode=0o755, exist_ok=True)
        os.chown(self.mail_base, MAIL_UID, MAIL_GID)
        for sub in ("tmp", "new", "cur"):
            p = os.path.join(self.maildir, sub)
            os.makedirs(p, mode=0o700, exist_ok=True)
            os.chown(p, MAIL_UID, MAIL_GID)
        os.chown(self.maildir, MAIL_UID, MAIL_GID)
        os.chmod(self.maildir, 0o700)
        if self.sasl_users:
            self._write_sasl()

    def _write_sasl(self):
        """smtpd.conf and a sasldb (saslpasswd2, from sasl2-bin) readable by
        smtpd, which runs as the postfix user."""
        exe = shutil.which("saslpasswd2", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if not exe:
            raise UpstreamError("saslpasswd2 is not installed (sasl2-bin; "
                                "contrib/setup-deps.sh)")
        os.makedirs(self.sasl_dir, mode=0o755, exist_ok=True)
        db = os.path.join(self.sasl_dir, "sasldb2")
        with open(os.path.join(self.sasl_dir, "smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\n"
                    "auxprop_plugin: sasldb\n"
                    "mech_list: %s\n"
                    "sasldb_path: %s\n" % (" ".join(self.sasl_mechs), db))
        os.chmod(os.path.join(self.sasl_dir, "smtpd.conf"), 0o644)
        for user, password in self.sasl_users.items():
            r = subprocess.run([exe, "-f", db, "-c", "-p", "-u", SASL_REALM, user],
                               input=password + "\n", capture_output=True, text=True,
                               timeout=30)
            if r.returncode != 0:
                raise UpstreamError("saslpasswd2 %s failed: %s%s" % (user, r.stdout, r.stderr))
        shutil.chown(db, "postfix", "postfix")
        os.chmod(db, 0o640)

    def set_reject(self, mapping):
        """Replace the recipient access table and reload the instance."""
        self.reject = dict(mapping)
        self._write_access()
        if self._running:
            self._postfix("reload")
            time.sleep(0.5)

    def postconf(self, *names):
        """{name: value} as this instance sees them (postconf -c DIR -h)."""
        out = {}
        for n in names:
            r = subprocess.run(["postconf", "-c", self.config_dir, "-h", n],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise UpstreamError("postconf %s: %s" % (n, r.stderr.strip()))
            out[n] = r.stdout.rstrip("\n")
        return out

    # --------------------------------------------------------------- lifecycle

    def _env(self):
        env = dict(os.environ)
        env["MAIL_CONFIG"] = self.config_dir
        # The instance must never use a sanitizer runtime meant for mailhold.
        env.pop("LD_PRELOAD", None)
        return env

    def _postfix(self, *args, check=True, timeout=60):
        r = subprocess.run(["postfix", "-c", self.config_dir] + list(args),
                           capture_output=True, text=True, timeout=timeout,
                           env=self._env(), stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise UpstreamError("postfix -c %s %s failed (%d):\n%s%s\n--- maillog:\n%s"
                                % (self.config_dir, " ".join(args), r.returncode,
                                   r.stdout, r.stderr, self.log_text()[-4000:]))
        return r

    def _read_master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self, timeout=30):
        if self._closed:
            raise UpstreamError("closed")
        if self._running:
            return
        if _port_open(self.host, self.port, 0.2):
            raise UpstreamError("port %d already in use before start" % self.port)
        # postfix start creates the queue directories with the right owners
        # (post-install create-missing) and returns once the master is up.
        self._postfix("start", timeout=timeout)
        self._running = True
        self._master_pid = self._read_master_pid()
        deadline = time.monotonic() + timeout
        banner = None
        while time.monotonic() < deadline:
            try:
                banner = self._banner()
                break
            except OSError:
                time.sleep(0.1)
        if banner is None:
            raise UpstreamError("postfix on port %d did not answer\n%s"
                                % (self.port, self.log_text()[-4000:]))
        if self.banner_tag not in banner:
            raise UpstreamError("port %d answered with someone else's banner: %r"
                                % (self.port, banner))
        got = self.postconf("queue_directory", "smtpd_banner")
        if got["queue_directory"] != self.queue_dir:
            raise UpstreamError("postconf -c %s reports queue_directory %r"
                                % (self.config_dir, got["queue_directory"]))
        for p in ([self.wrapper_port] if self.wrapper_port else []) + self.extra_ports:
            while not _port_open(self.host, p, 0.2):
                if time.monotonic() >= deadline:
                    raise UpstreamError("postfix listener on port %d did not open\n%s"
                                        % (p, self.log_text()[-4000:]))
                time.sleep(0.1)

    def _banner(self, timeout=5):
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(4096)
            except OSError:
                pass
            return data.decode("utf-8", "replace").strip()

    def stop(self, timeout=30):
        """postfix stop; then make sure the master and its children are gone
        and the port is closed."""
        if not self._running:
            return
        self._running = False
        r = self._postfix("stop", check=False, timeout=timeout)
        pid = self._master_pid or self._read_master_pid()
        deadline = time.monotonic() + 10
        while pid and _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._kill_leftovers(self.config_dir, self.queue_dir)
        deadline = time.monotonic() + 10
        while _port_open(self.host, self.port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _port_open(self.host, self.port, 0.2):
            raise UpstreamError("port %d still open after postfix stop: %s %s"
                                % (self.port, r.stdout, r.stderr))

    def restart(self):
        self.stop()
        self.start()

    @property
    def running(self):
        return self._running

    @staticmethod
    def _kill_leftovers(config_dir, queue_dir):
        """SIGKILL this instance's processes: the master by its pid file and
        every process whose environment says MAIL_CONFIG=config_dir."""
        pids = set()
        try:
            with open(os.path.join(queue_dir, "pid", "master.pid")) as f:
                pids.add(int(f.read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
        want = b"MAIL_CONFIG=" + config_dir.encode()
        for ent in os.listdir("/proc"):
            if not ent.isdigit() or int(ent) == os.getpid():
                continue
            try:
                with open("/proc/%s/environ" % ent, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if want in env:
                pids.add(int(ent))
        for pid in pids:
            if _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    @staticmethod
    def _cleanup(config_dir, queue_dir, tmp):
        if os.path.isdir(config_dir):
            subprocess.run(["postfix", "-c", config_dir, "stop"],
                           capture_output=True, timeout=60,
                           env=dict(os.environ, MAIL_CONFIG=config_dir),
                           stdin=subprocess.DEVNULL)
            PostfixUpstream._kill_leftovers(config_dir, queue_dir)
        if os.environ.get("MH_KEEP_TMP"):
            return
        shutil.rmtree(tmp, ignore_errors=True)

    def close(self):
        """Stop (if running) and delete the temp dir.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._running:
                self.stop()
        finally:
            self._running = False
            self._finalizer()
            try:
                atexit.unregister(self._finalizer)
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---------------------------------------------------------------- inspect

    def log_text(self, since=None):
        """The maillog (from byte offset `since`, a log_mark(), if given)."""
        try:
            with open(self.maillog, "rb") as f:
                if since:
                    f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_mark(self):
        """An offset for log_text(since=...)/connect_count(since=...)."""
        try:
            return os.path.getsize(self.maillog)
        except OSError:
            return 0

    def connect_count(self, since=None):
        """Number of SMTP connections smtpd logged (all listeners), after
        log_mark() `since` if given.  start()'s own banner check counts too."""
        return len(CONNECT_RE.findall(self.log_text(since)))

    def capabilities(self, timeout=10):
        """(banner, {ehlo keyword lower: params}) of this instance."""
        s = smtplib.SMTP(timeout=timeout)
        try:
            code, banner = s.connect(self.host, self.port)
            if code != 220:
                raise UpstreamError("banner %d %r" % (code, banner))
            code, msg = s.ehlo("capabilities.mailhold.test")
            if code != 250:
                raise UpstreamError("EHLO -> %d %r" % (code, msg))
            return "220 " + banner.decode("utf-8", "replace"), dict(s.esmtp_features)
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                s.close()

    def _queue_files(self, queues):
        n = []
        for q in queues:
            top = os.path.join(self.queue_dir, q)
            for root, _dirs, files in os.walk(top):
                n.extend(os.path.join(root, f) for f in files)
        return n

    def queue_count(self, queues=QUEUE_INFLIGHT):
        """Number of messages in the given Postfix queues (files)."""
        return len(self._queue_files(queues))

    def held_count(self):
        return self.queue_count(("hold",))

    def held_ids(self):
        return sorted(os.path.basename(p) for p in self._queue_files(("hold",)))

    def flush_hold(self):
        """Delete everything in the hold queue (benchmark rounds)."""
        subprocess.run(["postsuper", "-c", self.config_dir, "-d", "ALL", "hold"],
                       capture_output=True, timeout=300, env=self._env())

    def wait_idle(self, timeout=10, queues=("maildrop", "incoming", "active")):
        """Wait until nothing is in flight inside Postfix. True if idle."""
        deadline = time.monotonic() + timeout
        while True:
            if self.queue_count(queues) == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def messages(self, timeout=0.0):
        """Every delivered message (list of DeliveredMessage, oldest first).

        With timeout > 0, first waits up to timeout for Postfix to finish
        whatever it has accepted (so mail accepted so far is delivered)."""
        if timeout > 0:
            self.wait_idle(timeout)
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir, sub)
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for name in names:
                p = os.path.join(d, name)
                try:
                    st = os.stat(p)
                    with open(p, "rb") as f:
                        raw = f.read()
                except FileNotFoundError:
                    continue
                out.append(DeliveredMessage(p, raw, st.st_mtime_ns))
        out.sort(key=lambda m: (m.mtime, os.path.basename(m.path)))
        return out

    def wait_for(self, n, timeout=10.0, settle=0.0, pred=None):
        """Wait until at least n delivered messages (matching pred, if given)
        exist; then wait `settle` seconds more and return them all (so a test
        can check that no extra message turned up).  Raises AssertionError
        with the upstream's log tail on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = [m for m in self.messages() if pred is None or pred(m)]
            if len(msgs) >= n:
                break
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "upstream: %d message(s) delivered after %.1fs, wanted %d: %r\n"
                    "--- postfix maillog tail:\n%s"
                    % (len(msgs), timeout, n, msgs, self.log_text()[-3000:]))
            time.sleep(0.05)
        if settle > 0:
            time.sleep(settle)
            self.wait_idle(5)
            msgs = [m for m in self.messages() if pred is None or pred(m)]
        return msgs

    def clear(self):
        """Forget every delivered message (waits for in-flight mail first)."""
        self.wait_idle(5)
        for sub in ("new", "cur", "tmp"):
            d = os.path.join(self.maildir, sub)
            for name in os.listdir(d):
                try:
                    os.unlink(os.path.join(d, name))
                except FileNotFoundError:
                    pass

    def send(self, sender, rcpts, data, timeout=30, **kw):
        """Send directly with smtplib (for self-tests)."""
        with smtplib.SMTP(self.host, self.port, timeout=timeout) as s:
            return s.sendmail(sender, rcpts, data, **kw)

    def __repr__(self):
        return "<PostfixUpstream %s:%d %s%s>" % (
            self.host, self.port, self.dir, " hold" if self.hold_all else "")


if __name__ == "__main__":
    # Quick manual check: start one, print its capabilities, stop it.
    with PostfixUpstream() as up:
        print(up, up.capabilities())
