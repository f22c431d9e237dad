"""Throwaway certificates for TLS tests, made with the openssl CLI.

Python 3 standard library only (plus /usr/bin/openssl).

    pki = TestPKI(dir)                 # a CA and an unrelated second CA
    cert, key = pki.server_cert("good", ips=["127.0.0.1"], dns=["localhost"])
    pki.ca_cert                        # PEM of the CA that signed `good`
    pki.other_ca_cert                  # PEM of a CA that signed nothing used

Keys are P-256 EC (fast to make).  Files are mode 0644 (test keys only):
Postfix's smtpd and the Python fake upstream both read them.
"""

import os
import shutil
import subprocess

__all__ = ["TestPKI", "have_openssl"]


def have_openssl():
    return shutil.which("openssl") is not None


def _run(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s%s"
                           % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


class TestPKI:
    __test__ = False        # not a unittest class

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_cert, self.ca_key = self._ca("ca", "mhtest root CA")
        self.other_ca_cert, self.other_ca_key = self._ca("other-ca", "mhtest unrelated CA")

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        crt, key = self._path(name + ".crt"), self._path(name + ".key")
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"], self.dir)
        for p in (crt, key):
            os.chmod(p, 0o644)
        return crt, key

    def server_cert(self, name, ips=("127.0.0.1",), dns=("localhost",), ca="ca"):
        """A server certificate signed by `ca` ("ca" or "other-ca") with the
        given IP and DNS subjectAltNames.  Returns (cert_path, key_path)."""
        crt, key, csr = (self._path(name + ".crt"), self._path(name + ".key"),
                         self._path(name + ".csr"))
        ext = self._path(name + ".ext")
        sans = ["IP:%s" % i for i in ips] + ["DNS:%s" % d for d in dns]
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n")
            if sans:
                f.write("subjectAltName=%s\n" % ",".join(sans))
        cn = (list(dns) + list(ips) + ["mhtest server"])[0]
        _run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn], self.dir)
        ca_crt, ca_key = self._path(ca + ".crt"), self._path(ca + ".key")
        _run(["x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
              "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext], self.dir)
        for p in (crt, key):
            os.chmod(p, 0o644)
        return crt, key
