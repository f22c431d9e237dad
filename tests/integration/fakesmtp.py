"""A scripted SMTP server on 127.0.0.1: the hostile upstream in relay tests.

Python 3 standard library only.

FakeSMTP speaks just enough SMTP to receive a message (banner, EHLO/HELO,
STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT), answering
pipelined commands in order.  A test changes its behaviour per command:

    up = FakeSMTP(actions={"MAIL": b"250-a\\r\\n550 b\\r\\n"})
    up = FakeSMTP(actions={"DATA": lambda conn, line: conn.send(b"354 go\\r\\n")
                                   or conn.read_some(10) or conn.close()})

actions maps a verb ("BANNER", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL",
"RCPT", "DATA", "EOM" = end of message text, "RSET", "QUIT", ...) to
  - bytes: sent as they are instead of the normal reply;
  - "close": the server closes the connection instead of replying;
  - a callable(conn, line): does whatever it likes with the FakeConn
    (send(), read_line(), read_some(), start_tls(), close()); if it returns
    True the normal reply is sent too.
An action may also be a list: the n-th connection uses item n (the last
item for every later connection), so a scenario can be hostile once and
honest afterwards.

Everything is bounded: every socket read has a timeout (read_timeout), a
connection lives at most max_conn_seconds, lines are capped at 64 KiB, and
close() stops the listener and every connection thread.

Recorded (thread-safe):
    connections       number of accepted connections
    transcripts       per connection, the list of command lines received
                      (bytes, CRLF stripped; AUTH payloads included)
    messages          [(mail_from, [rcpts], data_bytes, connection_index)]
                      for each message whose end of data was answered 250
    events            free-form notes from actions (list of str)
"""

import socket
import ssl
import threading
import time

__all__ = ["FakeSMTP", "FakeConn"]

LINE_MAX = 64 * 1024


class FakeConn:
    def __init__(self, server, sock, index):
        self.server = server
        self.sock = sock
        self.index = index          # 0 for the first connection
        self.buf = b""
        self.tls = False
        self.closed = False
        self.transcript = []
        self.deadline = time.monotonic() + server.max_conn_seconds
        self.mail_from = None
        self.rcpts = []
        self.authed = False

    # -- I/O
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def _recv(self, timeout):
        t = min(timeout, self.deadline - time.monotonic())
        if t <= 0:
            raise socket.timeout("connection lifetime over")
        self.sock.settimeout(t)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        return chunk

    def read_line(self, timeout=None):
        """One line without its CRLF (or LF), or None on EOF/timeout."""
        timeout = self.server.read_timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if len(self.buf) > LINE_MAX or self.closed:
                return None
            try:
                chunk = self._recv(max(0.01, end - time.monotonic()))
            except (socket.timeout, OSError):
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line[:-1] if line.endswith(b"\r") else line

    def read_some(self, timeout=0.5):
        """Whatever arrives within timeout (b"" on EOF or nothing)."""
        if self.buf:
            data, self.buf = self.buf, b""
            return data
        try:
            return self._recv(timeout)
        except (socket.timeout, OSError):
            return b""

    def start_tls(self):
        """Server side of a TLS handshake on this connection.  True if it
        completed.  Bytes buffered before it are dropped (as a careful server
        would do)."""
        ctx = self.server.tls_context
        if ctx is None:
            return False
        self.buf = b""
        try:
            self.sock.settimeout(self.server.read_timeout)
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.server.note("conn %d: TLS handshake failed: %r" % (self.index, e))
            self.closed = True
            return False
        self.tls = True
        self.server.note("conn %d: TLS established" % self.index)
        return True

    def close(self):
        if not self.closed:
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class FakeSMTP:
    def __init__(self, actions=None, ehlo_caps=("PIPELINING", "8BITMIME", "SIZE 30000000",
                                                "ENHANCEDSTATUSCODES"),
                 tls_context=None, auth=None, auth_mechs=("PLAIN", "LOGIN"),
                 read_timeout=5.0, max_conn_seconds=15.0, name="fake.upstream.test",
                 host="127.0.0.1", implicit_tls=False):
        """auth: (user, password) to offer AUTH with auth_mechs (PLAIN and/or
        LOGIN); tls_context: an ssl.SSLContext (server side) to offer
        STARTTLS, or with implicit_tls=True to start every connection with a
        TLS handshake ("port 465").  host: "127.0.0.1" or "::1"."""
        if implicit_tls and tls_context is None:
            raise ValueError("implicit_tls needs tls_context")
        self.actions = dict(actions or {})
        self.ehlo_caps = list(ehlo_caps)
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.auth = auth
        self.auth_mechs = tuple(m.upper() for m in auth_mechs)
        self.read_timeout = read_timeout
        self.max_conn_seconds = max_conn_seconds
        self.name = name
        self.lock = threading.Lock()
        self.connections = 0
        self.transcripts = []
        self.messages = []
        self.events = []
        self._conns = []
        self._threads = []
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name="fakesmtp-accept-%d" % self.port)
        self._acceptor.start()

    # -- recording
    def note(self, text):
        with self.lock:
            self.events.append(text)

    def commands(self, verb=None):
        """Every command line received over all connections (bytes), or
        those starting with verb."""
        with self.lock:
            out = [l for t in self.transcripts for l in t]
        if verb:
            v = verb.upper().encode()
            out = [l for l in out if l.upper().startswith(v)]
        return out

    # -- server
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                idx = self.connections
                self.connections += 1
                conn = FakeConn(self, s, idx)
                self.transcripts.append(conn.transcript)
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                 name="fakesmtp-conn-%d" % idx)
            with self.lock:
                self._threads.append(t)
            t.start()

    def _action(self, verb, conn):
        a = self.actions.get(verb)
        if isinstance(a, list):
            a = a[min(conn.index, len(a) - 1)] if a else None
        return a

    def _do(self, verb, conn, line, normal):
        """Runs the action for verb, else sends normal.  Returns False if
        the connection is to end."""
        a = self._action(verb, conn)
        if a is None:
            if normal is not None:
                conn.send(normal)
            return not conn.closed
        if a == "close":
            conn.close()
            return False
        if isinstance(a, (bytes, str)):
            conn.send(a)
            return not conn.closed
        if a(conn, line) is True and normal is not None:
            conn.send(normal)
        return not conn.closed

    def _ehlo_reply(self, conn):
        caps = list(self.ehlo_caps)
        if self.tls_context is not None and not conn.tls and not self.implicit_tls:
            caps.append("STARTTLS")
        if self.auth:
            caps.append("AUTH " + " ".join(self.auth_mechs))
        lines = [self.name] + caps
        return b"".join(b"250%s%s\r\n" % (b" " if i == len(lines) - 1 else b"-",
                                           l.encode()) for i, l in enumerate(lines))

    def _check_auth(self, user, password):
        return self.auth is not None and (user, password) == self.auth

    def _serve(self, conn):
        import base64
        try:
            if self.implicit_tls and not conn.start_tls():
                return
            if not self._do("BANNER", conn, b"",
                            b"220 %s ESMTP fakesmtp\r\n" % self.name.encode()):
                return
            while not conn.closed and not self._stop.is_set():
                line = conn.read_line()
                if line is None:
                    return
                conn.transcript.append(line)
                verb = line.split(b" ", 1)[0].upper().decode("ascii", "replace")
                if verb == "EHLO":
                    ok = self._do("EHLO", conn, line, self._ehlo_reply(conn))
                elif verb == "HELO":
                    ok = self._do("HELO", conn, line, b"250 %s\r\n" % self.name.encode())
                elif verb == "STARTTLS":
                    a = self._action("STARTTLS", conn)
                    if a is None:
                        if self.tls_context is None or conn.tls:
                            conn.send(b"502 5.5.1 no STARTTLS here\r\n")
                            ok = True
                        else:
                            conn.send(b"220 2.0.0 go ahead\r\n")
                            ok = conn.start_tls()
                    else:
                        ok = self._do("STARTTLS", conn, line, None)
                elif verb == "AUTH":
                    a = self._action("AUTH", conn)
                    if a is not None:
                        if not self._do("AUTH", conn, line, None):
                            return
                        continue
                    parts = line.split()
                    mech = parts[1].upper() if len(parts) > 1 else b""
                    user = password = None
                    if mech.decode("ascii", "replace") not in self.auth_mechs:
                        conn.send(b"504 5.5.4 mechanism not offered\r\n")
                        continue
                    if mech == b"PLAIN":
                        if len(parts) > 2:
                            resp = parts[2]
                        else:
                            conn.send(b"334 \r\n")
                            resp = conn.read_line() or b""
                            conn.transcript.append(resp)
                        try:
                            _authz, user, password = base64.b64decode(resp).split(b"\0")
                        except Exception:
                            pass
                    elif mech == b"LOGIN":
                        conn.send(b"334 VXNlcm5hbWU6\r\n")
                        u = conn.read_line() or b""
                        conn.transcript.append(u)
                        conn.send(b"334 UGFzc3dvcmQ6\r\n")
                        p = conn.read_line() or b""
                        conn.transcript.append(p)
                        try:
                            user, password = base64.b64decode(u), base64.b64decode(p)
                        except Exception:
                            pass
                    if user is not None and self._check_auth(user.decode("utf-8", "replace"),
                                                             password.decode("utf-8", "replace")):
                        conn.authed = True
                        conn.send(b"235 2.7.0 Authentication successful\r\n")
                    else:
                        conn.send(b"535 5.7.8 Authentication credentials invalid\r\n")
                    ok = not conn.closed
                elif verb == "MAIL":
                    conn.mail_from = line[10:].split(b">")[0].lstrip(b"<").decode(
                        "utf-8", "replace")
                    conn.rcpts = []
                    ok = self._do("MAIL", conn, line, b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    conn.rcpts.append(line[8:].split(b">")[0].lstrip(b"<").decode(
                        "utf-8", "replace"))
                    ok = self._do("RCPT", conn, line, b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    a = self._action("DATA", conn)
                    if a is not None:
                        if not self._do("DATA", conn, line, None):
                            return
                        continue
                    conn.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    data = []
                    while True:
                        l = conn.read_line()
                        if l is None:
                            return
                        if l == b".":
                            break
                        data.append(l[1:] if l.startswith(b".") else l)
                    # Recorded as delivered only if the normal 250 is sent,
                    # and before it is sent (the client may act on it at once).
                    if self._action("EOM", conn) is None:
                        with self.lock:
                            self.messages.append((conn.mail_from, list(conn.rcpts),
                                                  b"\r\n".join(data) + b"\r\n",
                                                  conn.index))
                            n = len(self.messages)
                    else:
                        n = 0
                    ok = self._do("EOM", conn, b".", b"250 2.0.0 Ok: queued as FAKE%d\r\n" % n)
                elif verb == "RSET":
                    conn.rcpts = []
                    ok = self._do("RSET", conn, line, b"250 2.0.0 Ok\r\n")
                elif verb == "NOOP":
                    ok = self._do("NOOP", conn, line, b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    self._do("QUIT", conn, line, b"221 2.0.0 Bye\r\n")
                    return
                else:
                    ok = self._do(verb, conn, line, b"502 5.5.2 command not recognized\r\n")
                if not ok:
                    return
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            c.close()
        self._acceptor.join(5)
        for t in threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
