"""``mtls-harness keystore`` and ``truststore``: the platform's stores, built for going live."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from harness.cli import EXIT_FAILED, EXIT_OK
from harness.cli.passwords import password_options, read_password
from harness.engines.jsse import JsseEngine
from harness.errors import UsageError
from harness.files import write_atomic
from harness.keypair import (
    choose_key_pair,
    key_pair_warnings,
    read_key_pairs,
    read_pem_key_pair,
    refuse_misnamed_output,
)
from harness.knowledge.java import first_versions, pkcs12_algorithms
from harness.outputs import check_output_file, write_output
from harness.pki import sha256_fingerprint
from harness.secret import Secret
from harness.stores import KeyEntry, alias_for, keystore_bytes, read_store, truststore_bytes
from harness.text import inert
from harness.wire.inspect import inspect_server

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Register ``keystore`` and ``truststore`` on ``mtls-harness``'s sub-parsers."""
    keystore = commands.add_parser(
        "keystore",
        help="build the platform's keystore from a PKCS#12 key pair (KeyPair.p12), or from PEM files "
        "(--cert, --key, --chain)",
    )
    keystore.add_argument(
        "pkcs12", type=Path, nargs="?", metavar="IN.p12", help="the PKCS#12 file with the key and its chain"
    )
    keystore.add_argument(
        "--cert", type=Path, metavar="CERT.pem", help="instead of IN.p12: the PEM certificate (it may carry the chain)"
    )
    keystore.add_argument(
        "--key",
        type=Path,
        metavar="KEY.pem",
        help="with --cert: its PEM private key (PKCS#8 or traditional, RSA or EC)",
    )
    keystore.add_argument(
        "--chain", type=Path, metavar="CHAIN.pem", help="with --cert: the PEM CA certificates (any order)"
    )
    keystore.add_argument("--out", type=Path, required=True, metavar="OUT", help="the keystore file to write")
    keystore.add_argument(
        "--alias",
        help="the key entry's alias (default: the PKCS#12 friendly name; from PEM: client); with several key pairs "
        "in IN.p12, the one to take",
    )
    keystore.add_argument("--format", choices=("jks", "pkcs12"), default="jks", help=_FORMAT_HELP)
    keystore.add_argument("--force", action="store_true", help="replace OUT if it exists")
    keystore.add_argument(
        "--strict",
        action="store_true",
        help="a warning (expired, wrong usage, weak key, no chain ...) is a failure: exit 1 and OUT is not written",
    )
    password_options(keystore, "p12", "the PKCS#12 file's password")
    password_options(keystore, "key", "the password of an encrypted --key")
    password_options(keystore, "", "the new keystore's password (also its key password)")
    keystore.set_defaults(handler=_keystore)

    truststore = commands.add_parser("truststore", help="build a truststore from the certificates a server presents")
    truststore.add_argument("url", metavar="URL", help="the server's https:// URL")
    truststore.add_argument("--out", type=Path, required=True, metavar="OUT", help="the truststore file to write")
    truststore.add_argument("--format", choices=("jks", "pkcs12"), default="jks", help=_FORMAT_HELP)
    truststore.add_argument(
        "--add-keystore",
        type=Path,
        metavar="KS",
        help="also trust this keystore's certificates (as the platform's guide does)",
    )
    truststore.add_argument(
        "--ca-file",
        type=Path,
        metavar="BUNDLE",
        help="a PEM bundle of CA certificates: when the server sends only its own certificate, trust the CA "
        "in BUNDLE that issued it",
    )
    truststore.add_argument(
        "--pin-leaf",
        action="store_true",
        help="when no CA can be found, trust the server's own certificate (breaks at its next renewal)",
    )
    truststore.add_argument("--force", action="store_true", help="replace OUT if it exists")
    truststore.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="network timeout (default 10)"
    )
    password_options(truststore, "keystore", "the --add-keystore keystore's password")
    password_options(truststore, "", "the new truststore's password")
    truststore.set_defaults(handler=_truststore)


def _refuse_overwrite(out: Path, force: bool) -> None:
    if out.is_dir():
        raise UsageError(str(out), "is a folder", "give a file name, e.g. --out keystore.jks")
    if out.exists() and not force:
        raise UsageError(str(out), "already exists", "choose another --out, or pass --force to replace it")
    check_output_file(out, "--out")


def _refuse_unreadable_password(out: Path, fmt: str, password: Secret) -> None:
    # The JDK's PKCS#12 store takes ASCII passwords only ("Password is not
    # ASCII"); a file written with another would never open on the platform.
    if fmt == "pkcs12" and not password.reveal().isascii():
        raise UsageError(
            str(out),
            "a PKCS#12 password must be ASCII for the JDK to open it",
            "choose an ASCII password, or --format jks",
        )


def _keystore(args: argparse.Namespace) -> int:

    _refuse_overwrite(args.out, args.force)
    refuse_misnamed_output(args.out, args.format, args.force)
    source = _source_of(args)
    if args.cert is not None:
        entry, chain_warnings = read_pem_key_pair(
            args.cert, args.key, args.chain, lambda: read_password(args, "key", prompt=f"Password of {args.key.name}")
        )
        note = ""
        given = f"{args.cert.name} and {args.chain.name} hold" if args.chain else f"{args.cert.name} holds"
        holds = f"{given} no CA certificate that issued it"
    else:
        entry, chain_warnings, note, holds = _p12_key_pair(args)
    password = read_password(args, "", prompt=f"New password for {args.out.name}", confirm=True)
    if password is None:
        raise UsageError(str(args.out), "no password given", "pass --password-env VAR or --password-file FILE")
    if not password.reveal():
        raise UsageError(str(args.out), "the password is empty", "the platform needs a keystorePass")
    _refuse_unreadable_password(args.out, args.format, password)
    given_alias = args.alias or entry.alias or "client"
    alias = given_alias.lower() if args.format == "jks" else given_alias  # JKS aliases are lower case
    warnings = chain_warnings + key_pair_warnings(entry, given_alias, alias, dt.datetime.now(dt.UTC), holds)
    if args.strict and warnings:
        # A pipeline asked for a store it can ship: none is written, rather than one with a known fault.
        print(f"{args.out} not written (--strict): {len(warnings)} warning(s) about {source}")
        for warning in warnings:
            print(f"  warning: {inert(warning)}")
        return EXIT_FAILED
    data = keystore_bytes(entry, alias, args.format, password)
    write_output(args.out, "--out", lambda out: write_atomic(out, data, private=True, overwrite=args.force))
    written = read_store(args.out, password, "keystore")  # read back: what the platform will open
    leaf = written.key_entries[0].chain[0]
    print(f"wrote {args.out} ({args.format.upper()}, 0600): one key entry {alias!r}, key password = store password")
    print(f"  certificate: {inert(leaf.subject.rfc4514_string())}")  # names from the customer's file: inert
    print(f"  issued by:   {inert(leaf.issuer.rfc4514_string())}")
    print(f"  valid until: {leaf.not_valid_after_utc:%Y-%m-%d}; chain of {len(written.key_entries[0].chain)}")
    if note:
        print(f"  note: {source} {note}")
    _note_java_versions(args.format, data)

    for warning in warnings:
        print(f"  warning: {inert(warning)}")
    print(f'  in destination.json: "keystoreFile": "{args.out.name}", "keystorePass": the password you gave')
    return EXIT_OK


_FORMAT_HELP = f"store format (default jks; Java {first_versions('pkcs12-pbes2')} and newer open the pkcs12 written)"


def _note_java_versions(fmt: str, data: bytes) -> None:
    """A PKCS#12 written with PBES2 / a SHA-2 MAC: say which Java first opens it (the JDK's own keytool 16+ default)."""
    algorithms = pkcs12_algorithms(data)
    if fmt == "pkcs12" and algorithms.modern:
        print(
            f"  note: {algorithms.describe()}: Java {first_versions('pkcs12-pbes2')} and newer open it, an older "
            "Java does not (keystore-format-unsupported); for one, write --format jks"
        )


def _source_of(args: argparse.Namespace) -> str:
    """The key pair's file(s) as the user named them; UsageError for a mix of IN.p12 and PEM options."""
    pem = [f"--{name}" for name in ("cert", "key", "chain") if getattr(args, name) is not None]
    if args.pkcs12 is not None and pem:
        raise UsageError(pem[0], f"{pem[0]} is for PEM files, not with IN.p12", "give IN.p12, or --cert and --key")
    if args.pkcs12 is None and args.cert is None and pem:
        raise UsageError(pem[0], f"{pem[0]} needs --cert", "give --cert CERT.pem --key KEY.pem [--chain CHAIN.pem]")
    if args.pkcs12 is None and args.cert is None:
        raise UsageError("IN.p12", "no key pair given", "give IN.p12, or --cert CERT.pem --key KEY.pem")
    if args.pkcs12 is not None:
        return str(args.pkcs12.name)
    if args.key is None:
        raise UsageError("--cert", "needs --key: the private key issued with it", "add --key KEY.pem")
    return str(args.cert.name)


def _p12_key_pair(args: argparse.Namespace) -> tuple[KeyEntry, list[str], str, str]:
    """(the key entry, no warnings of its own, a note on who read it, what the no-chain warning says holds)."""
    if not args.pkcs12.is_file():
        raise UsageError(str(args.pkcs12), "no such file", "give the PKCS#12 key pair your CA issued")
    p12_password = read_password(args, "p12", prompt=f"Password of {args.pkcs12.name}")
    if p12_password is None:
        raise UsageError(
            str(args.pkcs12), "no password given", "pass --p12-password-env VAR or --p12-password-file FILE"
        )
    with JsseEngine() as jdk:  # the platform's reading: what cryptography cannot read, and every key entry
        pairs = read_key_pairs(args.pkcs12, p12_password, jdk)
    return choose_key_pair(pairs, args.alias, args.pkcs12), [], pairs.note, "the PKCS#12 file holds no CA certificate"


def _truststore(args: argparse.Namespace) -> int:

    _refuse_overwrite(args.out, args.force)
    extra = []
    if args.add_keystore is not None:
        ks_password = read_password(args, "keystore", prompt=f"Password of {args.add_keystore.name}")
        if ks_password is None:
            raise UsageError(
                str(args.add_keystore),
                "no password given",
                "pass --keystore-password-env VAR or --keystore-password-file FILE",
            )
        contents = read_store(args.add_keystore, ks_password, "keystore")
        extra = [c for e in contents.key_entries for c in e.chain] + list(contents.certificates)
    password = read_password(args, "", prompt=f"New password for {args.out.name}", confirm=True)
    if password is None:
        raise UsageError(str(args.out), "no password given", "pass --password-env VAR or --password-file FILE")
    _refuse_unreadable_password(args.out, args.format, password)
    try:
        view = inspect_server(args.url, timeout=args.timeout)
    except OSError as exc:
        raise UsageError(
            args.url, f"cannot reach the server: {exc}", "check the URL, DNS, the port and any firewall"
        ) from None
    anchor, pinned = _anchor(view.chain, args.url, args.ca_file, args.pin_leaf)
    taken: set[str] = set()
    seen: set[bytes] = set()
    entries = []
    for cert in [anchor, *extra]:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            entries.append((alias_for(cert, taken), cert))
    data = truststore_bytes(entries, args.format, password)
    write_output(args.out, "--out", lambda out: write_atomic(out, data, private=True, overwrite=args.force))
    read_store(args.out, password, "truststore")  # read back: what the platform will open
    print(f"wrote {args.out} ({args.format.upper()}): {len(entries)} trusted certificate(s)")
    for alias, cert in entries:
        print(f"  {inert(alias)}: {inert(cert.subject.rfc4514_string())}")  # the server's names: inert
        print(f"    SHA-256 {sha256_fingerprint(cert)}")
        print(f"    expires {cert.not_valid_after_utc:%Y-%m-%d}")
    _note_java_versions(args.format, data)
    if pinned:
        print(f"  warning: {PIN_WARNING}")
    return EXIT_OK


PIN_WARNING = (
    "the truststore trusts the server's own certificate, not its CA: it breaks at the server's next certificate renewal"
)


def _anchor(
    chain: tuple[x509.Certificate, ...], url: str, ca_file: Path | None, pin_leaf: bool
) -> tuple[x509.Certificate, bool]:
    """The certificate to trust, and whether it is the server's own: the topmost CA the server sends; else
    the CA of ``ca_file`` that issued the leaf; else the leaf itself, only when ``pin_leaf``."""
    leaf = chain[0]
    issuer_name = inert(leaf.issuer.rfc4514_string())  # the server's names: inert
    sent_cas = [cert for cert in chain[1:] if is_ca(cert)]
    if sent_cas:
        return sent_cas[-1], False
    if ca_file is not None:
        issuer = _issuer_in(ca_file, leaf)
        if issuer is not None:
            return issuer, False
        if not pin_leaf:
            raise UsageError(
                str(ca_file),
                f"holds no CA certificate that issued the server's certificate (issuer {issuer_name})",
                "give the bundle with that CA (ask the server's operator), or --pin-leaf to trust the server's own "
                "certificate (it breaks at the server's next renewal)",
            )
    elif not pin_leaf:
        raise UsageError(
            url,
            "the server sends only its own certificate; trusting it breaks at the server's next certificate renewal",
            f"pass --ca-file BUNDLE.pem with its issuing CA ({issuer_name}), or --pin-leaf "
            "to trust that certificate anyway",
        )
    return leaf, True


def _issuer_in(ca_file: Path, leaf: x509.Certificate) -> x509.Certificate | None:
    """The CA certificate of the PEM bundle ``ca_file`` whose key signed ``leaf``, if any."""
    try:
        data = ca_file.read_bytes()
    except OSError as exc:
        raise UsageError(
            str(ca_file), f"cannot read it ({exc.strerror})", "check the path given to --ca-file"
        ) from None
    try:
        bundle = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UsageError(
            str(ca_file), "is not a PEM bundle of certificates", "give -----BEGIN CERTIFICATE----- blocks"
        ) from None
    for ca in bundle:
        if ca.subject != leaf.issuer or not is_ca(ca):
            continue
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return ca
    return None


def is_ca(cert: x509.Certificate) -> bool:
    """A CA certificate: basicConstraints cA=true."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
