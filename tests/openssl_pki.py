"""A customer's material as the ``openssl`` command line makes it: CAs, a client key and certificate, a server.

Every file is written by the real ``openssl`` (3.x), as a CA or an engineer
following a CA's instructions would: PEM certificates, keys in PKCS#8 or the
traditional format, encrypted or not, and a PKCS#12 bundle.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

KEY_PASSWORD_VAR = "PKI_KEY_PASSWORD"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


@dataclass(frozen=True)
class OpenSslPki:
    folder: Path
    openssl: str
    key_password: str = "key-Pw-openssl-5e1"

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [self.openssl, *map(str, args)],
            cwd=self.folder,
            env={**os.environ, KEY_PASSWORD_VAR: self.key_password, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"openssl {' '.join(map(str, args))}: {done.stderr}"
        return done.stdout

    def key(self, name: str, kind: str = "rsa") -> Path:
        """A new private key in PKCS#8 PEM, unencrypted (openssl genpkey's default)."""
        path = self.folder / f"{name}.key"
        if kind == "rsa":
            self.run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
        else:
            self.run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
        return path

    def _extensions(self, name: str, lines: list[str]) -> Path:
        path = self.folder / f"{name}.ext"
        path.write_text("\n".join(lines) + "\n", "utf-8")
        return path

    def root(self, name: str, cn: str) -> Issued:
        key = self.key(name)
        cert = self.folder / f"{name}.pem"
        self.run(
            "req", "-x509", "-new", "-key", key, "-out", cert, "-days", "3650", "-subj", f"/CN={cn}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return Issued(cert, key)

    def issue(
        self, name: str, cn: str, issuer: Issued, *, ca: bool = False, kind: str = "rsa", server: str | None = None
    ) -> Issued:
        """A certificate signed by ``issuer``: a CA, a client certificate, or a server's for the name ``server``."""
        key = self.key(name, kind)
        csr = self.folder / f"{name}.csr"
        cert = self.folder / f"{name}.pem"
        self.run("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={cn}")
        if ca:
            lines = ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign"]
        elif server is not None:
            lines = ["basicConstraints=CA:FALSE", "extendedKeyUsage=serverAuth", f"subjectAltName=IP:{server}"]
        else:
            lines = ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth", "keyUsage=digitalSignature"]
        self.run(
            "x509", "-req", "-in", csr, "-CA", issuer.cert, "-CAkey", issuer.key, "-CAcreateserial",
            "-out", cert, "-days", "365", "-sha256", "-extfile", self._extensions(name, lines),
        )  # fmt: skip
        return Issued(cert, key)

    def key_as(self, key: Path, form: str) -> Path:
        """``key`` rewritten: pkcs8 | pkcs8-encrypted | traditional | traditional-encrypted."""
        out = self.folder / f"{key.stem}-{form}.key"
        encrypt = ["-aes256", "-passout", f"env:{KEY_PASSWORD_VAR}"] if form.endswith("-encrypted") else []
        traditional = ["-traditional"] if form.startswith("traditional") else []
        self.run("pkey", "-in", key, "-out", out, *traditional, *encrypt)
        return out

    def pkcs12(self, leaf: Issued, chain: list[Path], name: str, password: str) -> Path:
        """A PKCS#12 key pair (``openssl pkcs12 -export``, OpenSSL 3's defaults: AES-256, PBKDF2)."""
        bundle = self.bundle(f"{name}-chain", chain)
        out = self.folder / f"{name}.p12"
        self.run(
            "pkcs12", "-export", "-in", leaf.cert, "-inkey", leaf.key, "-certfile", bundle, "-name", "client",
            "-out", out, "-passout", "env:PKI_P12_PASSWORD", env={"PKI_P12_PASSWORD": password},
        )  # fmt: skip
        return out

    def bundle(self, name: str, certs: list[Path]) -> Path:
        out = self.folder / f"{name}.pem"
        out.write_bytes(b"".join(c.read_bytes() for c in certs))
        return out
