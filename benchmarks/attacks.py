"""The attack table: each hostile input or server, what stops it, how long it took and the peak memory.

``python benchmarks/attacks.py`` (part of ``make bench``). Each attack runs in
a fresh Python process (so its peak RSS is its own, read from wait4); the
hostile files are made beforehand by the parent, the hostile servers run on
127.0.0.1 inside the child. The time is the attacked call alone. The same
attacks are asserted in tests/test_hardening.py; this prints the figures.

A second table runs the parsing attacks of issue 22 through the real command
line (``mtls-harness check`` / ``keystore`` / ``run`` / ``capture``, as
tests/test_attacks_parsing.py asserts them): exit code, wall time of the whole
command (Python start, the warm JVM for ``check``) and the peak resident
memory of its process tree (the JVM included), sampled by
tests.hostile.run_bounded. ``--commands`` prints that table alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSWORD = "Attack-Pw-1"


def _files(folder: Path) -> None:
    """The hostile files, written once by the parent."""
    from harness.secret import Secret
    from harness.stores import jks_bytes
    from tests import hostile

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", folder / "key.pem",
         "-out", folder / "cert.pem", "-subj", "/CN=attack", "-days", "2"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", folder / "cert.pem", "-inkey", folder / "key.pem",
         "-out", folder / "genuine.p12", "-passout", f"pass:{PASSWORD}", "-iter", "2048"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pfx = (folder / "genuine.p12").read_bytes()
    (folder / "iter-max.p12").write_bytes(hostile.pfx_with_iterations(pfx, 2**31 - 1))
    (folder / "iter-jdk-plus-1.p12").write_bytes(hostile.pfx_with_iterations(pfx, 5_000_001))
    from cryptography import x509

    cert_pem = (folder / "cert.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(cert_pem)
    jks = jks_bytes([], [("attack", cert)], Secret(PASSWORD))
    (folder / "truststore.jks").write_bytes(jks)
    (folder / "count.jks").write_bytes(hostile.jks_declaring_entries(jks, 2**31 - 1))
    (folder / "length.jks").write_bytes(hostile.jks_with_huge_certificate_length(jks))
    (folder / "bundle-100000.pem").write_bytes(hostile.pem_bundle(cert_pem, 100_000))
    (folder / "bundle-5001.pem").write_bytes(hostile.pem_bundle(cert_pem, 5_001))
    os.mkfifo(folder / "fifo.jks")
    (folder / "huge.toml").write_text('description = "' + "x" * (2 << 20) + '"\n')
    (folder / "deep.toml").write_text(hostile.deep_toml(100_000))
    (folder / "huge.json").write_text('{"url": "' + "x" * (2 << 20) + '"}')
    (folder / "deep.json").write_text(hostile.deep_json(200_000))
    big_key = hostile.scenario_with_certs(2).replace('kind = "root"\n', 'kind = "root"\nkey = "rsa-16384"\n', 1)
    (folder / "rsa-16384.toml").write_text(big_key)
    (folder / "certs-5000.toml").write_text(hostile.scenario_with_certs(5_000))
    (folder / "chain-1000.toml").write_text(hostile.scenario_chain(1_000))
    (folder / "chain-17.toml").write_text(hostile.scenario_chain(17))
    _parsing_files(folder, pfx, cert_pem)


def _parsing_files(folder: Path, pfx: bytes, cert_pem: bytes) -> None:
    """The parsing attacks of issue 22 (tests/test_attacks_parsing.py), from the same genuine material."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tests import hostile

    key = serialization.load_pem_private_key((folder / "key.pem").read_bytes(), None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    (folder / "ber-3000.p12").write_bytes(hostile.pfx_with_nested_ber(pfx, 3_000))
    (folder / "hidden-max.p12").write_bytes(hostile.pfx_with_hidden_key_bag(pkcs8, der, PASSWORD, 2**31 - 1))
    (folder / "hidden-2048.p12").write_bytes(hostile.pfx_with_hidden_key_bag(pkcs8, der, PASSWORD, 2048))
    (folder / "sum-12m.p12").write_bytes(hostile.pfx_with_iterations(pfx, 4_000_000))
    (folder / "unterminated.pem").write_bytes(hostile.pem_unterminated(cert_pem, 4_999))
    (folder / "bundle-150.pem").write_bytes(hostile.pem_bundle(cert_pem, 150))
    subprocess.run(
        ["keytool", "-genseckey", "-alias", "aes", "-keyalg", "AES", "-keysize", "128", "-storetype", "JCEKS",
         "-keystore", folder / "secret.jceks", "-storepass", PASSWORD, "-keypass", PASSWORD],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    secret = (folder / "secret.jceks").read_bytes()
    (folder / "nested.jceks").write_bytes(hostile.jceks_with_nested_references(secret, PASSWORD, 30))
    (folder / "loop.p12").symlink_to("loop.p12")
    ca, ca_key, _, _ = hostile.odd_curve_material(folder)
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", ca, "-inkey", ca_key, "-name", "odd", "-out", folder / "odd.p12",
         "-passout", f"pass:{PASSWORD}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    genuine = (REPO / "scenarios" / "ok-rsa.toml").read_text()
    for name, extra in (
        ("digits", "serial = " + "9" * 5_000 + "\n"),
        ("deep", hostile.deep_toml(5_000)),
        ("fifo", None),
        ("genuine", ""),
    ):
        scenarios = folder / f"run-{name}"
        scenarios.mkdir()
        (scenarios / "ok-rsa.toml").write_text(genuine)
        if extra is None:
            os.mkfifo(scenarios / "x.toml")
        elif extra:
            (scenarios / f"{name}.toml").write_text(genuine + extra)


_ELAPSED: list[float] = []


class _Timed:
    """Times the attacked call alone (not the hostile server's set-up or teardown)."""

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        _ELAPSED.append(time.perf_counter() - self.start)


def _store(name: str) -> Callable[[Path], str]:
    def attack(folder: Path) -> str:
        from harness.errors import StoreError
        from harness.secret import Secret
        from harness.stores import read_store

        path = Path(name) if name.startswith("/") else folder / name  # "." is the folder itself
        try:
            with _Timed():
                read_store(path, Secret(PASSWORD), "truststore")
        except StoreError as exc:
            return exc.what
        return "read"

    return attack


def _scenario(name: str) -> Callable[[Path], str]:
    def attack(folder: Path) -> str:
        from harness.errors import ScenarioError
        from harness.scenario import load_scenario

        try:
            with _Timed():
                load_scenario(folder / name)
        except ScenarioError as exc:
            return exc.what
        return "parsed"

    return attack


def _destination(name: str) -> Callable[[Path], str]:
    def attack(folder: Path) -> str:
        from harness.destination import load_destination
        from harness.errors import UsageError

        try:
            with _Timed():
                load_destination(folder / name)
        except UsageError as exc:
            return exc.what
        return "read"

    return attack


def _server(kind: str) -> Callable[[Path], str]:
    def attack(folder: Path) -> str:
        import socket

        from harness.wire.inspect import inspect_server
        from tests.test_hardening import HostileServer, drip

        holder: list[HostileServer] = []

        def behave(conn: socket.socket) -> None:
            if kind == "drip":
                drip(conn, b"\x16\x03\x03\x40\x00" + b"\x02" * 64, lambda: holder[0].stopping)
            else:
                conn.recv(1 << 16)
                time.sleep(3)

        with HostileServer(behave) as server:
            holder.append(server)
            try:
                with _Timed():
                    inspect_server(f"https://127.0.0.1:{server.port}/", timeout=1.0, deadline=2.0)
            except OSError as exc:
                return str(exc)
        return "seen"

    return attack


def _engine(kind: str) -> Callable[[Path], str]:
    def attack(folder: Path) -> str:
        import ssl

        from harness.build import probe_for, write_scenario_files
        from harness.engines.python import PythonEngine
        from harness.scenario import load_scenario
        from tests.test_hardening import HostileServer, answer_then, drip

        scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
        built = write_scenario_files(scenario, Path(tempfile.mkdtemp(dir=folder)))
        holder: list[HostileServer] = []

        def endless(tls: ssl.SSLSocket) -> None:
            for _ in range(2_000):
                if holder[0].stopping:
                    return
                tls.sendall(b"\0" * (1 << 16))

        if kind == "drip":
            behave = answer_then(
                built, b"HTTP/1.1 200 OK\r\n", lambda t: drip(t, b"X: 1\r\n", lambda: holder[0].stopping)
            )
        elif kind == "body":
            behave = answer_then(built, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", endless)
        else:
            behave = answer_then(built, b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", lambda t: None)
        with HostileServer(behave) as server:
            holder.append(server)
            probe = probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound/orders")
            from dataclasses import replace

            with _Timed():
                outcome = PythonEngine().probe(replace(probe, timeout=2.0))
        if outcome.error:
            return f"{outcome.error_type}: {outcome.error}"
        body = "whole" if outcome.body_cut_at is None else f"cut at {outcome.body_cut_at:,} bytes (limit)"
        return f"HTTP {outcome.http_status}; body {body}"

    return attack


ATTACKS: dict[str, tuple[str, Callable[[Path], str]]] = {
    "pkcs12-iter-max": ("PKCS#12, MAC/PBE iterations 2^31-1", _store("iter-max.p12")),
    "pkcs12-iter-jdk+1": ("PKCS#12, iterations 5,000,001", _store("iter-jdk-plus-1.p12")),
    "pkcs12-genuine": ("PKCS#12 from openssl -iter 2048 (twin)", _store("genuine.p12")),
    "jks-count": ("JKS declaring 2^31-1 entries", _store("count.jks")),
    "jks-length": ("JKS certificate declaring 2^31-1 bytes", _store("length.jks")),
    "pem-100000": ("PEM bundle, 100,000 certificates (110 MB)", _store("bundle-100000.pem")),
    "pem-5001": ("PEM bundle, 5,001 certificates (5.6 MB)", _store("bundle-5001.pem")),
    "fifo": ("store path is a FIFO", _store("fifo.jks")),
    "dev-zero": ("store path is /dev/zero", _store("/dev/zero")),
    "directory": ("store path is a directory", _store(".")),
    "toml-huge": ("scenario TOML of 2 MiB", _scenario("huge.toml")),
    "toml-deep": ("scenario TOML nested 100,000 deep", _scenario("deep.toml")),
    "json-huge": ("destination JSON of 2 MiB", _destination("huge.json")),
    "json-deep": ("destination JSON nested 200,000 deep", _destination("deep.json")),
    "rsa-16384": ("scenario asking RSA-16384", _scenario("rsa-16384.toml")),
    "certs-5000": ("scenario with 5,000 certificates", _scenario("certs-5000.toml")),
    "chain-1000": ("scenario chain depth 1,000", _scenario("chain-1000.toml")),
    "chain-17": ("scenario chain depth 17", _scenario("chain-17.toml")),
    "server-drip": ("server dripping its handshake (timeout 1 s, deadline 2 s)", _server("drip")),
    "server-silent": ("server silent after connect (timeout 1 s)", _server("silent")),
    "answer-drip": ("server dripping its HTTP headers (python engine, 2 s)", _engine("drip")),
    "answer-endless": ("server sending an endless body (python engine)", _engine("body")),
    "answer-header": ("server sending a 70 KB header line (python engine)", _engine("header")),
    "pkcs12-ber-3000": ("PKCS#12, 3,000 nested BER indefinite SEQUENCEs", _store("ber-3000.p12")),
    "pkcs12-hidden-max": ("PKCS#12, key bag in encrypted SafeContents, PBKDF2 2^31-1", _store("hidden-max.p12")),
    "pkcs12-hidden-2048": ("PKCS#12, key bag in encrypted SafeContents, 2,048 (twin)", _store("hidden-2048.p12")),
    "pkcs12-sum": ("PKCS#12, three counts of 4,000,000 (12 M summed)", _store("sum-12m.p12")),
    "jceks-nested": ("JCEKS secret key of nested references (~630 bytes)", _store("nested.jceks")),
    "pem-unterminated": ("PEM, 4,999 BEGIN lines without END (5.4 MB)", _store("unterminated.pem")),
    "pem-150": ("PEM bundle, 150 certificates (twin)", _store("bundle-150.pem")),
    "odd-curve": ("PKCS#12 key on secp112r1", _store("odd.p12")),
    "symlink-loop": ("store path is a symbolic link loop", _store("loop.p12")),
}


# -- the same attacks through the command line --------------------------------------------------------


def _dest_json(folder: Path, keystore: str, truststore: str = "truststore.jks") -> str:
    name = f"dest-{keystore}-{truststore}.json".replace("/", "_")
    (folder / name).write_text(
        json.dumps({"keystoreFile": keystore, "keystorePass": PASSWORD, "truststoreFile": truststore,
                    "truststorePass": PASSWORD})
    )  # fmt: skip
    return name


def _commands(folder: Path) -> list[tuple[str, list[str]]]:
    k = ["--p12-password-env", "ATTACK_PW", "--password-env", "ATTACK_PW"]
    return [
        ("check: PKCS#12, 3,000 nested BER SEQUENCEs", ["check", _dest_json(folder, "ber-3000.p12")]),
        ("keystore: PKCS#12, 3,000 nested BER SEQUENCEs", ["keystore", "ber-3000.p12", "--out", "o1.jks", *k]),
        ("check: PKCS#12, hidden key bag PBKDF2 2^31-1", ["check", _dest_json(folder, "hidden-max.p12")]),
        ("keystore: PKCS#12, hidden key bag PBKDF2 2^31-1", ["keystore", "hidden-max.p12", "--out", "o2.jks", *k]),
        ("keystore: hidden key bag at 2,048 (twin)", ["keystore", "hidden-2048.p12", "--out", "o3.jks", *k]),
        ("check: PKCS#12, counts summing to 12 M", ["check", _dest_json(folder, "sum-12m.p12")]),
        ("check: JCEKS secret key of nested references", ["check", _dest_json(folder, "nested.jceks")]),
        (
            "check: PEM truststore, 4,999 unterminated BEGIN",
            ["check", _dest_json(folder, "genuine.p12", "unterminated.pem")],
        ),
        (
            "check: PEM truststore of 150 certificates (twin)",
            ["check", _dest_json(folder, "genuine.p12", "bundle-150.pem")],
        ),
        ("check: keystore key on secp112r1", ["check", _dest_json(folder, "odd.p12")]),
        ("check: keystoreFile a symbolic link loop", ["check", _dest_json(folder, "loop.p12")]),
        ("check: genuine PKCS#12 (twin)", ["check", _dest_json(folder, "genuine.p12")]),
        ("run DIR: a scenario with a 5,000-digit integer", ["run", "run-digits", "--engine", "python"]),
        ("run DIR: a scenario nested 5,000 deep", ["run", "run-deep", "--engine", "python"]),
        ("run DIR: a FIFO named x.toml", ["run", "run-fifo", "--engine", "python"]),
        ("run DIR: the genuine scenario alone (twin)", ["run", "run-genuine", "--engine", "python"]),
    ]


def _one_line(done: subprocess.CompletedProcess[str], file: str) -> str:
    """The line that says what happened: the ERROR finding naming the file, else stderr's last line, else the
    report line naming the file."""
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR") and file in line]
    if errors:
        return errors[0]
    if done.stderr.strip():
        return done.stderr.strip().splitlines()[-1]
    return next((line for line in lines if file in line and ":" in line), lines[-1] if lines else "")


def _command_table(folder: Path) -> list[str]:
    from tests import hostile

    env = {**os.environ, "ATTACK_PW": PASSWORD}
    rows = []
    for label, args in _commands(folder):
        argv = [sys.executable, "-m", "harness.cli.main", *args]
        try:
            run = hostile.run_bounded(argv, cwd=folder, env=env)
        except AssertionError as exc:
            rows.append(f"| {label} | killed: {exc} | - | - | - |")
            continue
        file = args[1]
        if args[0] == "check":
            destination = json.loads((folder / args[1]).read_text())
            pem = destination["truststoreFile"].endswith(".pem")
            file = destination["truststoreFile" if pem else "keystoreFile"]
        line = _one_line(run.done, file).replace("|", "\\|")[:220]
        rows.append(f"| {label} | {run.done.returncode} | {run.seconds:.1f} s | {run.peak_mib:.0f} MiB | {line} |")
    rows += [_capture_row(folder, env, odd) for odd in (True, False)]
    return rows


def _capture_row(folder: Path, env: dict[str, str], odd: bool) -> str:
    """``capture`` against a TLS server on 127.0.0.1 whose chain holds the secp112r1 CA (or, the twin, not)."""
    import socket
    import ssl

    from tests import hostile

    chain = folder / ("odd-chain.pem" if odd else "leaf-only.pem")
    chain.write_bytes((folder / "leaf.pem").read_bytes() + ((folder / "odd-ca.pem").read_bytes() if odd else b""))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(chain, folder / "leaf.key")

    def behave(conn: socket.socket) -> None:
        conn.settimeout(10)
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1 << 16)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    label = "capture: server chain with a secp112r1 CA" if odd else "capture: server chain, RSA only (twin)"
    with hostile.HostileServer(behave) as server:
        argv = [sys.executable, "-m", "harness.cli.main", "capture", f"https://127.0.0.1:{server.port}/"]
        run = hostile.run_bounded(argv, cwd=folder, env=env)
    described = [x.strip() for x in run.done.stdout.splitlines() if "(EC" in x or "(RSA" in x]
    line = (described[-1] if described else run.done.stderr.strip()).replace("|", "\\|")[:220]
    return f"| {label} | {run.done.returncode} | {run.seconds:.1f} s | {run.peak_mib:.0f} MiB | {line} |"


def _child(name: str, folder: Path) -> None:
    # Imported before the clock starts: the figure is the attack, not Python's imports.
    import importlib

    for module in (
        "harness.check",
        "harness.engines.python",
        "harness.wire.inspect",
        "harness.stores",
        "tests.test_hardening",
    ):
        importlib.import_module(module)

    before = _peak_kib()
    behaviour = ATTACKS[name][1](folder)
    print(json.dumps({"seconds": _ELAPSED[0], "behaviour": behaviour, "rss_kib": _peak_kib(), "base_kib": before}))


def _peak_kib() -> int:
    """This process's peak resident memory (VmHWM: per process, unlike ru_maxrss, which survives exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        _child(sys.argv[2], Path(sys.argv[3]))
        return 0
    rows = []
    commands_only = sys.argv[1:] == ["--commands"]
    with tempfile.TemporaryDirectory(prefix="mtls-attacks-") as work:
        folder = Path(work)
        _files(folder)
        command_rows = _command_table(folder)
        for name, (label, _) in ({} if commands_only else ATTACKS).items():
            child = subprocess.Popen(
                [sys.executable, __file__, "--one", name, str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            out, err = child.communicate(timeout=120)
            if child.returncode != 0:
                rows.append((label, f"FAILED: {err.decode()[-300:]}", 0.0, 0, 0))
                continue
            result = json.loads(out)
            rows.append((label, result["behaviour"], result["seconds"], result["rss_kib"], result["base_kib"]))
    print("## Parsing attacks through the command line (exit code, whole command, peak RSS of its process tree)\n")
    print("| attack | exit | time | peak RSS | the line that says it |")
    print("|---|---|---|---|---|")
    print("\n".join(command_rows))
    if commands_only:
        return 0
    print("\n## Attacks -> behaviour (`make bench`; each in a fresh process)\n")
    print("| attack | behaviour (the one line) | time | peak RSS (after imports -> at the end) |")
    print("|---|---|---|---|")
    for label, behaviour, seconds, rss, base in rows:
        text = behaviour.replace("|", "\\|")
        print(f"| {label} | {text} | {seconds * 1000:.1f} ms | {base / 1024:.0f} -> {rss / 1024:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
