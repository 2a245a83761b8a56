"""The speed table of issue 26: ms per scenario, against the floor and the manual recipe (`make bench`).

``python benchmarks/speed_table.py`` generates catalogues of 25, 250 and
2,500 scenarios in two shapes and runs ``mtls-harness run DIR`` on each:

* ``copies``: the shipped scenarios repeated under new names (identical
  ``[pki]`` tables: a run issues their certificates once, docs/speed.md);
* ``pki-differ``: the same, but each copy's ``[pki]`` differs (a root's
  ``not_before`` moved by a second per copy), so issuing once cannot help.

Rows: the python engine with one worker and with ``-n auto``, the jsse engine.
The marginal cost per scenario is a ratio within this run: the difference of
two sizes' times over the difference of their sizes (25 -> 250, 250 -> 2,500);
linearity is the second margin over the first (1.0: linear). In the same run
the floor (a bare TLS 1.3 handshake + POST with both ends in this Python
process, RSA-2048 client and EC P-256 server keys as the scenarios' defaults)
and the manual recipe (benchmarks/baseline.sh: keytool + openssl + a cold JVM,
per scenario) are measured; each row gives its ratio to both.

``--quick``: sizes 2 and 4, one recipe scenario (a smoke test; figures mean
nothing). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from benchmarks.scaling import baseline_per_scenario, generate, timed  # noqa: E402

SHAPES = ("copies", "pki-differ")
RUNS: dict[str, list[str]] = {
    "python 1 worker": ["--engine", "python"],
    "python -n auto": ["--engine", "python", "-n", "auto"],
    "jsse": ["--engine", "jsse"],
}
_PKI_HEADER = re.compile(r"^\[pki\.[^\]]+\]\s*$")


def generate_differing(count: int, folder: Path) -> Path:
    """``count`` copies of the shipped scenarios, each with a ``[pki]`` of its own.

    The first ``[pki]`` certificate without a ``not_before`` gets one, a second
    further back per copy: a different table, the same verdict.
    """
    generate(count, folder)
    for i, path in enumerate(sorted(folder.glob("*.toml"))):
        lines = path.read_text().splitlines()
        for at, line in enumerate(lines):
            if not _PKI_HEADER.match(line):
                continue
            end = next((j for j in range(at + 1, len(lines)) if lines[j].startswith("[")), len(lines))
            if not any(body.startswith("not_before") for body in lines[at + 1 : end]):
                lines.insert(at + 1, f'not_before = "-{86_400 + 1 + i}s"')
                break
        path.write_text("\n".join(lines) + "\n")
    return folder


def floor_ms(rounds: int) -> float:
    """One bare TLS 1.3 handshake + POST + answer, both ends in memory in this process: median ms."""
    import trustme

    client_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    client = client_ca.issue_cert("client.example", key_type=trustme.KeyType.RSA)
    server_ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    server = server_ca.issue_cert("127.0.0.1", key_type=trustme.KeyType.ECDSA)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    server.configure_cert(server_ctx)
    client_ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    client.configure_cert(client_ctx)
    server_ca.configure_trust(client_ctx)
    request = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"

    def once() -> float:
        start = time.perf_counter()
        c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
        c = client_ctx.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
        s = server_ctx.wrap_bio(s_in, s_out, server_side=True)

        def pump() -> None:
            s_in.write(c_out.read())
            c_in.write(s_out.read())

        for side in itertools.cycle((c, s)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pump()
                continue
            pump()
            try:
                c.do_handshake()
                s.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
        c.write(request)
        pump()
        got = b""
        while len(got) < len(request):  # TLS 1.3: the client's certificate is checked as the server reads
            got += s.read(4096)
        s.write(answer)
        pump()
        reply = c.read(4096)
        assert reply.endswith(b"{}"), reply
        return (time.perf_counter() - start) * 1000

    once()
    return statistics.median(once() for _ in range(rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25,250,2500", help="catalogue sizes (comma-separated, ascending)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"rows (comma-separated of: {', '.join(RUNS)})")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="catalogue shapes (comma-separated)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure under 1,000 scenarios (median)")
    parser.add_argument(
        "--recipe", type=int, default=5, help="scenarios the keytool+openssl recipe runs (0: not measured)"
    )
    parser.add_argument("--floor-rounds", type=int, default=200, help="bare handshakes measured for the floor")
    parser.add_argument("--quick", action="store_true", help="sizes 2,4, one recipe scenario, few floor rounds")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.recipe, args.floor_rounds = "2,4", 1, 20
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [r.strip() for r in args.runs.split(",")]
    shapes = [s.strip() for s in args.shapes.split(",")]
    if (
        len(sizes) < 2
        or sizes != sorted(sizes)
        or any(r not in RUNS for r in runs)
        or any(s not in SHAPES for s in shapes)
    ):
        parser.error("two or more ascending sizes; rows and shapes from the lists in --help")
    harness = str(BIN / "mtls-harness")
    makers = {"copies": generate, "pki-differ": generate_differing}
    results: dict[tuple[str, str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mtls-speed-") as root:
        for shape in shapes:
            for size in sizes:
                folder = makers[shape](size, Path(root) / f"{shape}-{size}")
                for run in runs:
                    repeat = args.repeat if size < 1_000 else 1
                    results[(run, shape, size)] = timed([harness, "run", str(folder), *RUNS[run]], repeat)
    floor = floor_ms(args.floor_rounds)
    recipe_wall, recipe_cpu = baseline_per_scenario(args.recipe) if args.recipe else (float("nan"), float("nan"))
    recipe = recipe_wall * 1000

    load = os.getloadavg()
    print(f"## Speed table (issue 26; {os.cpu_count()} cores, load average {load[0]:.1f} at the end)\n")
    print(
        f"Wall seconds per run ({args.repeat} run(s) each, median; CPU = the run and its children, JVM included). "
        "Marginal ms per scenario between consecutive sizes; linearity = last margin / first margin.\n"
    )
    steps = list(itertools.pairwise(sizes))
    header = ["engine", "catalogue", *(f"{n:,}" for n in sizes)]
    header += [f"ms/scenario {a:,}->{b:,}" for a, b in steps]
    header += ["CPU ms/scenario (last)", "linearity", "x floor", "x recipe"]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for shape in shapes:
        for run in runs:
            cells = [run, shape]
            cells += [f"{results[(run, shape, n)][0]:.1f} s" for n in sizes]
            margins, cpu_margins = [], []
            for a, b in steps:
                (w0, c0), (w1, c1) = results[(run, shape, a)], results[(run, shape, b)]
                margins.append((w1 - w0) / (b - a) * 1000)
                cpu_margins.append((c1 - c0) / (b - a) * 1000)
            cells += [f"{m:.1f}" for m in margins]
            last = margins[-1]
            linearity = last / margins[0] if margins[0] > 0 else float("nan")
            cells += [f"{cpu_margins[-1]:.1f}", f"{linearity:.2f}", f"{last / floor:.1f}", f"{last / recipe:.3f}"]
            print("| " + " | ".join(cells) + " |")
    print(
        f"\nFloor (bare in-process TLS 1.3 handshake + POST, RSA-2048 client / EC P-256 server, median of "
        f"{args.floor_rounds}): {floor:.2f} ms."
    )
    print(
        f"Recipe (benchmarks/baseline.sh: keytool + openssl + a cold JVM, {args.recipe} scenario(s)): "
        f"{recipe:.0f} ms a scenario (CPU {recipe_cpu * 1000:.0f} ms)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
