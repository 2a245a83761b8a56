"""Customer stores made the way customers make them: keytool (and, for a leaf-only chain, openssl pkcs12).

Names, aliases, host and passwords are distinctive ("Globex"), so that a leak
into a reproduced scenario is found by a plain search.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

__all__ = ["CASES", "CUSTOMER_STRINGS", "make_customer_destination"]

KS_PASS = "Globex-KS-Secret-71"
KEY_PASS = "Globex-Key-Secret-72"
TS_PASS = "Globex-TS-Secret-73"
CA_PASS = "Globex-CA-Secret-74"
URL = "https://api.globex-customer.example:8443/globex/orders"
CUSTOMER_STRINGS = (
    "Globex",
    "globex",
    "globex-integration",
    "Globex Customer",
    "api.globex-customer.example",
    "/globex/orders",
    KS_PASS,
    KEY_PASS,
    TS_PASS,
    CA_PASS,
)
CASES = (
    "good",
    "key-password-differs",
    "expired",
    "not-yet-valid",
    "server-auth-only",
    "two-keys",
    "leaf-only",
    "rsa-1024",
    "pkcs12-legacy",
    "wrong-keystore-password",
    "self-signed-ec",
)


def _run(*args: str, cwd: Path) -> None:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip()[-400:]}")


def _ca(keytool: str, folder: Path, name: str, dname: str) -> Path:
    """A root CA in its own JKS; returns its certificate (PEM)."""
    store = folder / f"{name}.jks"
    _run(keytool, "-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-dname", dname,
         "-ext", "bc:c", "-validity", "3650", "-keystore", str(store), "-storetype", "JKS",
         "-storepass", CA_PASS, "-keypass", CA_PASS, cwd=folder)  # fmt: skip
    pem = folder / f"{name}.pem"
    _run(keytool, "-exportcert", "-rfc", "-alias", name, "-keystore", str(store), "-storepass", CA_PASS,
         "-file", str(pem), cwd=folder)  # fmt: skip
    return pem


def _client(
    keytool: str, folder: Path, keystore: Path, alias: str, ca: str, *, keysize: int = 2048,
    eku: str = "clientAuth", start: str | None = None, validity: int = 365, keypass: str = KS_PASS,
) -> None:  # fmt: skip
    """A key entry in ``keystore`` signed by CA ``ca``, its chain [leaf, root] installed by keytool."""
    common = ["-keystore", str(keystore), "-storetype", "JKS", "-storepass", KS_PASS]
    _run(keytool, "-genkeypair", "-alias", alias, "-keyalg", "RSA", "-keysize", str(keysize),
         "-dname", f"CN={alias},O=Globex Customer", "-keypass", keypass, *common, cwd=folder)  # fmt: skip
    csr = folder / f"{alias}.csr"
    _run(keytool, "-certreq", "-alias", alias, "-file", str(csr), "-keypass", keypass, *common, cwd=folder)
    leaf = folder / f"{alias}.pem"
    signing = ["-gencert", "-alias", ca, "-keystore", str(folder / f"{ca}.jks"), "-storepass", CA_PASS,
               "-infile", str(csr), "-outfile", str(leaf), "-rfc", "-validity", str(validity),
               "-ext", f"EKU={eku}", "-ext", "KU=digitalSignature,keyEncipherment"]  # fmt: skip
    if start is not None:
        signing += ["-startdate", start]
    _run(keytool, *signing, cwd=folder)
    _run(keytool, "-importcert", "-alias", f"{ca}-tmp", "-file", str(folder / f"{ca}.pem"), "-noprompt",
         *common, cwd=folder)  # fmt: skip
    _run(keytool, "-importcert", "-alias", alias, "-file", str(leaf), "-keypass", keypass, *common, cwd=folder)
    _run(keytool, "-delete", "-alias", f"{ca}-tmp", *common, cwd=folder)


def make_customer_destination(keytool: str, openssl: str, folder: Path, case: str) -> Path:
    """The customer's keystore.jks, truststore.jks and destination.json for one case; returns the JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    _ca(keytool, folder, "globex-root", "CN=Globex Root CA,O=Globex Customer")
    server_ca = _ca(keytool, folder, "globex-server-root", "CN=Globex Server Root,O=Globex Customer")
    keystore = folder / "keystore.jks"
    if case == "key-password-differs":
        _client(keytool, folder, keystore, "globex-integration", "globex-root", keypass=KEY_PASS)
    elif case == "expired":
        _client(keytool, folder, keystore, "globex-integration", "globex-root", start="-400d", validity=30)
    elif case == "not-yet-valid":
        _client(keytool, folder, keystore, "globex-integration", "globex-root", start="+10d")
    elif case == "server-auth-only":
        _client(keytool, folder, keystore, "globex-integration", "globex-root", eku="serverAuth")
    elif case == "rsa-1024":
        _client(keytool, folder, keystore, "globex-integration", "globex-root", keysize=1024)
    elif case == "self-signed-ec":
        # keytool -genkeypair alone: a self-signed EC certificate, no CA at all.
        _run(keytool, "-genkeypair", "-alias", "globex-integration", "-keyalg", "EC", "-groupname", "secp256r1",
             "-dname", "CN=globex-integration,O=Globex Customer", "-keystore", str(keystore), "-storetype", "JKS",
             "-storepass", KS_PASS, "-keypass", KS_PASS, cwd=folder)  # fmt: skip
    elif case == "two-keys":
        _ca(keytool, folder, "globex-old-root", "CN=Globex Retired Root,O=Globex Customer")
        _client(keytool, folder, keystore, "globex-integration-2025", "globex-old-root")
        _client(keytool, folder, keystore, "globex-integration", "globex-root")
    elif case in ("leaf-only", "pkcs12-legacy"):
        full = folder / "full.jks"
        _client(keytool, folder, full, "globex-integration", "globex-root")
        p12 = folder / "full.p12"
        _run(keytool, "-importkeystore", "-srckeystore", str(full), "-srcstorepass", KS_PASS,
             "-destkeystore", str(p12), "-deststoretype", "PKCS12", "-deststorepass", KS_PASS, cwd=folder)  # fmt: skip
        key = folder / "key.pem"
        _run(openssl, "pkcs12", "-in", str(p12), "-nocerts", "-nodes", "-passin", f"pass:{KS_PASS}",
             "-out", str(key), cwd=folder)  # fmt: skip
        leaf_only = folder / "leaf-only.p12"
        leaf = str(folder / "globex-integration.pem")
        if case == "pkcs12-legacy":
            # The customer's CA hands out a PKCS#12 made with old tools (3DES / SHA-1), used as is.
            _run(openssl, "pkcs12", "-export", "-legacy", "-in", leaf, "-inkey", str(key),
                 "-certfile", str(folder / "globex-root.pem"), "-name", "globex-integration",
                 "-passout", f"pass:{KS_PASS}", "-out", str(folder / "keystore.p12"), cwd=folder)  # fmt: skip
            key.unlink()
            return _destination(keytool, folder, server_ca, "keystore.p12", case)
        _run(openssl, "pkcs12", "-export", "-in", leaf, "-inkey", str(key), "-name", "globex-integration",
             "-passout", f"pass:{KS_PASS}", "-out", str(leaf_only), cwd=folder)  # fmt: skip
        key.unlink()
        _run(keytool, "-importkeystore", "-srckeystore", str(leaf_only), "-srcstoretype", "PKCS12",
             "-srcstorepass", KS_PASS, "-destkeystore", str(keystore), "-deststoretype", "JKS",
             "-deststorepass", KS_PASS, "-destkeypass", KS_PASS, cwd=folder)  # fmt: skip
    else:
        _client(keytool, folder, keystore, "globex-integration", "globex-root")
    return _destination(keytool, folder, server_ca, keystore.name, case)


def _destination(keytool: str, folder: Path, server_ca: Path, keystore_file: str, case: str) -> Path:
    truststore = folder / "truststore.jks"
    _run(keytool, "-importcert", "-alias", "globex-server-root", "-file", str(server_ca), "-noprompt",
         "-keystore", str(truststore), "-storetype", "JKS", "-storepass", TS_PASS, cwd=folder)  # fmt: skip
    destination = folder / "destination.json"
    doc = {
        "url": URL,
        "keystoreFile": keystore_file,
        # The platform's destination says another password than the keystore's.
        "keystorePass": "Globex-Wrong-Secret" if case == "wrong-keystore-password" else KS_PASS,
        "truststoreFile": "truststore.jks",
        "truststorePass": TS_PASS,
    }
    destination.write_text(json.dumps(doc, indent=2), "utf-8")
    return destination
