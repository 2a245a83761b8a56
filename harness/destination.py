"""The platform's destination: a URL and the four store attributes, as one value.

The platform keeps, per partner, a JSON object with exactly these keys::

    {"url": "https://partner:8443/in", "keystoreFile": "keystore.jks", "keystorePass": "...",
     "truststoreFile": "truststore.jks", "truststorePass": "..."}

``build`` writes it (store paths relative to its folder, 0600), ``check`` and
``reproduce`` read it strictly (``load_destination``: unusable input is a
UsageError, exit 2), and ``harness.testing`` hands it to your tests. One
``Destination`` serves all of them; ``split_url`` is the one place a URL is
taken apart.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import UsageError
from harness.files import write_atomic
from harness.limits import DESTINATION_BYTES, NotARegularFile, TooLarge, read_bounded
from harness.secret import Secret

__all__ = ["KEYS", "Destination", "check_url", "load_destination", "request_target", "split_url"]

# The destination JSON's keys, in the order ``build`` writes them.
KEYS = ("url", "keystoreFile", "keystorePass", "truststoreFile", "truststorePass")


@dataclass(frozen=True)
class Destination:
    """The platform's destination attributes. Passwords are Secrets; paths as read (resolved) or given.

    The JSON's own names (``keystoreFile``, ``keystorePass``, ...) are there too,
    as plain strings, for clients under test that take the platform's attributes.
    """

    keystore: Path
    keystore_password: Secret = field(repr=False)
    truststore: Path
    truststore_password: Secret = field(repr=False)
    url: str | None = None
    source: Path | None = None  # the JSON file it was read from
    # Where each password came from, for messages: "the destination JSON" or the option that gave it.
    origins: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        path: Path,
        *,
        url: str | None = None,
        keystore_password: Secret | None = None,
        truststore_password: Secret | None = None,
    ) -> Destination:
        """``load_destination``."""
        return load_destination(
            path, url=url, keystore_password=keystore_password, truststore_password=truststore_password
        )

    @property
    def keystoreFile(self) -> str:  # the platform's attribute name
        return str(self.keystore)

    @property
    def keystorePass(self) -> str:  # the platform's attribute name
        return self.keystore_password.reveal()

    @property
    def truststoreFile(self) -> str:  # the platform's attribute name
        return str(self.truststore)

    @property
    def truststorePass(self) -> str:  # the platform's attribute name
        return self.truststore_password.reveal()

    def as_dict(self, relative_to: Path | None = None) -> dict[str, str | None]:
        """The destination JSON's content (passwords included); store paths relative to ``relative_to`` if given."""

        def where(store: Path) -> str:
            return str(store.relative_to(relative_to)) if relative_to is not None else str(store)

        return {
            "url": self.url,
            "keystoreFile": where(self.keystore),
            "keystorePass": self.keystorePass,
            "truststoreFile": where(self.truststore),
            "truststorePass": self.truststorePass,
        }

    def write(self, path: Path, *, relative: bool = False, durable: bool = True) -> None:
        """The destination JSON at ``path``, 0600 (it holds the passwords).

        ``relative``: store paths relative to ``path``'s folder, as ``build``
        writes them (the folder can move as a whole); else as held.
        """
        doc = self.as_dict(path.parent if relative else None)
        write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode(), private=True, durable=durable)


def _did_you_mean(key: str) -> str:
    folded = {k.lower().replace("_", "").replace("-", ""): k for k in KEYS}
    close = folded.get(key.lower().replace("_", "").replace("-", "")) or next(
        iter(difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)), None
    )
    return f" (did you mean {close!r}?)" if close else ""


def load_destination(
    path: Path,
    *,
    url: str | None = None,
    keystore_password: Secret | None = None,
    truststore_password: Secret | None = None,
) -> Destination:
    """Read the platform's destination JSON, strictly. Unusable input raises UsageError (exit 2).

    A UTF-8 byte-order mark is accepted; an unknown key (``URL`` for ``url``) is
    refused with the key it most likely meant.
    """
    if path.is_dir():
        raise UsageError(
            str(path), "is a folder", "give the destination's JSON file (a fleet: check DIR checks every *.json in it)"
        )
    try:
        doc = json.loads(read_bounded(path, DESTINATION_BYTES).decode("utf-8-sig"))
    except FileNotFoundError:
        raise UsageError(str(path), "no such file", "give the destination's JSON file") from None
    except (NotARegularFile, TooLarge) as exc:
        raise UsageError(str(path), f"not read: {exc}", "give the destination's JSON file") from None
    except OSError as exc:
        raise UsageError(str(path), f"cannot read: {exc.strerror or exc}", "give the destination's JSON file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            str(path), f"not UTF-8 text (byte {exc.start})", "save the destination's JSON as UTF-8"
        ) from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            str(path), f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", "fix the JSON"
        ) from None
    except RecursionError:
        raise UsageError(str(path), "not valid JSON (nested too deeply)", "fix the JSON") from None
    if not isinstance(doc, dict):
        raise UsageError(str(path), "is not a JSON object", "give the destination's JSON object")
    unknown = [k for k in doc if k not in KEYS]
    if unknown:
        named = "; ".join(f"{k!r}{_did_you_mean(k)}"[:120] for k in unknown[:3]) + ("; ..." if len(unknown) > 3 else "")
        raise UsageError(
            str(path),
            f"unknown key{'s' if len(unknown) > 1 else ''} {named}",
            f"the keys are {', '.join(KEYS)} (names are case-sensitive)",
        )

    def text(key: str) -> str | None:
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(str(path), f"{key} must be a string", f"fix {key}")
        return value

    files = {}
    for key in ("keystoreFile", "truststoreFile"):
        value = text(key)
        if not value:
            raise UsageError(str(path), f"no {key}", f"add {key} (a path, relative to the JSON file's folder)")
        if not value.isprintable():
            # A NUL (ValueError when opened), a lone surrogate from a "\ud800" escape (UnicodeEncodeError), or a
            # control character or line break, which would break the one-line messages that name the file.
            raise UsageError(str(path), f"{key} holds a control character or line break", f"fix {key}")
        try:
            files[key] = (path.parent / value).resolve() if not Path(value).is_absolute() else Path(value)
        except RuntimeError:  # a symbolic link loop (Python < 3.13 raises here): the store reader names it
            files[key] = path.parent / value
    passwords: dict[str, Secret] = {}
    origins: dict[str, str] = {}
    for key, given in (("keystorePass", keystore_password), ("truststorePass", truststore_password)):
        value = text(key)
        option = "--keystore-password" if key == "keystorePass" else "--truststore-password"
        if given is None and value is None:
            raise UsageError(str(path), f"no {key}", f"add it, or pass {option}-env VAR / -file FILE")
        passwords[key] = given if given is not None else Secret(value or "")
        origins[key] = f"the {option}-env/-file option" if given is not None else f"{path.name}"
    given_url = url is not None
    if url is None:
        url = text("url")
    if url is not None:
        check_url(url, "--url" if given_url else str(path))
    return Destination(
        files["keystoreFile"],
        passwords["keystorePass"],
        files["truststoreFile"],
        passwords["truststorePass"],
        url,
        path,
        origins,
    )


def check_url(url: str, where: str) -> tuple[str, int, bool]:
    """(host, port, port given) of the destination's https URL; UsageError naming ``where`` otherwise."""
    if not url or not url.isprintable():
        raise UsageError(where, "the URL is empty or holds a line break or control character", "fix the URL")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # urlsplit: a bad IPv6 literal, or a host name that NFKC changes
        raise UsageError(where, f"not a valid URL ({exc})", "fix the URL") from None
    if parts.scheme.lower() == "http":
        raise UsageError(
            f"{where}: {url}",
            "a plain http:// URL (port 80 when none is given): MTLS needs https://",
            "use https:// (port 443 when none is given)",
        )
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise UsageError(
            f"{where}: {url}", "not an https:// URL", "give the destination's URL, e.g. https://host:8443/path"
        )
    port_text = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    if not port_text:
        port, given = 443, False
    elif not port_text.isdigit():
        raise UsageError(f"{where}: {url}", f"the port {port_text!r} is not a number", "fix the URL's port (1-65535)")
    elif not 1 <= int(port_text) <= 65535:
        raise UsageError(
            f"{where}: {url}",
            f"the port {int(port_text)} is out of range (1-65535)",
            "fix the URL's port, or leave it out for https's default 443",
        )
    else:
        port, given = int(port_text), True
    try:
        split_url(url)  # what the live checks will use must take it too
    except ValueError as exc:
        raise UsageError(where, f"not a valid URL ({exc})", "fix the URL") from None
    return parts.hostname, port, given


def split_url(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an https URL; UsageError for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise UsageError(url, "not an https:// URL", "give the destination's URL, e.g. https://host:8443/path")
    try:
        port = parts.port or 443
    except ValueError:
        raise UsageError(url, "the port is not a number", "fix the URL") from None
    return parts.hostname, port, parts.path or "/"


def request_target(url: str) -> str:
    """What a request line names for ``url``: its path, and its query if it has one."""
    query = urlsplit(url).query
    return split_url(url)[2] + (f"?{query}" if query else "")
