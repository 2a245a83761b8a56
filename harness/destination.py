"""The platform's destination: a URL and the four store attributes, as one value.

The platform keeps, per partner, a JSON object with these attributes::

    {"url": "https://partner:8443/in", "keystoreFile": "keystore.jks", "keystorePass": "...",
     "truststoreFile": "truststore.jks", "truststorePass": "..."}

and exports it with more (a name, a type, headers, timeouts, a proxy).
``build`` writes the five (store paths relative to its folder, 0600);
``check``, fleet, ``reproduce`` and ``serve DIR`` read an export
(``load_destination``: every other key accepted, near misses of the five such
as ``URL`` recorded for ``check`` to report; a file that is not a JSON object,
or whose attributes have the wrong types, is a UsageError, exit 2), and
``harness.testing`` hands it to your tests. One ``Destination`` serves all of
them; ``split_url`` is the one place a URL is taken apart.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import UsageError
from harness.files import write_atomic
from harness.jsonfile import BadJson, read_json
from harness.limits import JSON_BYTES
from harness.secret import Secret

__all__ = [
    "KEYS",
    "Destination",
    "NearMiss",
    "check_url",
    "load_destination",
    "near_miss_of",
    "read_json_object",
    "request_target",
    "split_url",
]

# The destination JSON's keys, in the order ``build`` writes them.
KEYS = ("url", "keystoreFile", "keystorePass", "truststoreFile", "truststorePass")


@dataclass(frozen=True)
class NearMiss:
    """A key of the destination JSON that is not one of the five attributes but most likely meant one.

    ``stood_in``: the attribute it meant is missing, and its value was used in that attribute's place.
    """

    key: str
    meant: str
    stood_in: bool = False


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
    # Keys of the JSON that are near misses of the five attributes (``URL``), and the others, in file order.
    near_misses: tuple[NearMiss, ...] = ()
    unused_keys: tuple[str, ...] = ()
    name: str | None = None  # the export's "name" attribute, when a string (metrics and reports label by it)

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


def near_miss_of(key: str) -> str | None:
    """The attribute (one of KEYS) a key that is not one most likely meant, or None.

    Case, ``_``, ``-`` and spaces aside the same name (``URL``, ``keyStoreFile``,
    ``truststore_pass``), or a close spelling (``keystoreFiel``, ``keystorePassword``).
    Other attributes of an export (``keystoreType``, ``keyAlias``, ``name``) are not.
    """
    if key in KEYS:
        return None
    folded = _fold(key)
    if folded in _FOLDED:
        return _FOLDED[folded]
    if not folded or len(folded) > 2 * _LONGEST:  # no ratio of 0.85 possible: spare difflib the work
        return None
    close = difflib.get_close_matches(folded, list(_FOLDED), n=1, cutoff=_NEAR)
    return _FOLDED[close[0]] if close else None


def _fold(key: str) -> str:
    return "".join(c for c in key.casefold() if c.isalnum())


_FOLDED = {_fold(k): k for k in KEYS}
_LONGEST = max(len(k) for k in _FOLDED)
_NEAR = 0.85  # difflib's ratio: keystorePassword 0.86 is a near miss, keystoreType 0.75 and keystoreAlias 0.8 are not
_HINT = 0.6  # for a missing attribute's exit-2 line only: "is 'keystore' meant to be it?"


def read_json_object(path: Path, what: str = "the destination's JSON file") -> dict[str, Any]:
    """The JSON object in the file at ``path``, read within bounds; UsageError (exit 2) naming the file otherwise.

    At most JSON_BYTES (a regular file only: never a FIFO or device), UTF-8
    with or without a byte-order mark, nested at most jsonfile.MAX_DEPTH deep, integers of
    at most jsonfile.MAX_DIGITS digits. ``what`` names the file the user should give.
    """
    where = str(path)
    if path.is_dir():
        raise UsageError(where, "is a folder", f"give {what}")
    try:
        doc = read_json(path, JSON_BYTES)
    except BadJson as exc:
        reason = str(exc)
        fix = "fix the JSON" if reason.startswith("not valid JSON") else f"give {what}"
        raise UsageError(where, reason, "save the JSON as UTF-8" if "UTF-8" in reason else fix) from None
    if not isinstance(doc, dict):
        raise UsageError(where, "is not a JSON object", f"give {what}: one JSON object")
    return doc


def _shown(key: str) -> str:
    """A key as a message shows it: quoted, control characters escaped, cut at 60 characters."""
    text = repr(key)
    return text if len(text) <= 60 else text[:59] + "…"


def load_destination(
    path: Path,
    *,
    url: str | None = None,
    keystore_password: Secret | None = None,
    truststore_password: Secret | None = None,
) -> Destination:
    """Read the platform's destination JSON as the platform exports it. Unusable input raises UsageError (exit 2).

    ``url`` and the four store attributes are read; every other key is accepted.
    A near miss of one of them (``URL``, ``keyStoreFile``) is recorded with the
    attribute it most likely meant, and stands in for that attribute when it is
    missing (``check`` then reports an error); other keys are recorded as unused.
    Exit 2 only for a file that is not a JSON object, or whose attributes have the
    wrong types or are missing with nothing standing in for them. A UTF-8
    byte-order mark is accepted.
    """
    doc = read_json_object(path)
    near: list[NearMiss] = []
    unused: list[str] = []
    for key in doc:
        if key in KEYS:
            continue
        meant = near_miss_of(key)
        if meant is None:
            unused.append(key)
        else:
            near.append(NearMiss(key, meant))
    given = {"url": url, "keystorePass": keystore_password, "truststorePass": truststore_password}
    for index, miss in enumerate(near):
        missing = doc.get(miss.meant) is None and given.get(miss.meant) is None
        if missing and not any(m.stood_in for m in near if m.meant == miss.meant):
            near[index] = NearMiss(miss.key, miss.meant, stood_in=True)
    stand_in = {m.meant: m.key for m in near if m.stood_in}

    def text(key: str) -> str | None:
        source = stand_in.get(key, key)
        value = doc.get(source)
        if value is not None and not isinstance(value, str):
            named = key if source == key else f"{_shown(source)} (standing in for {key}, which is missing)"
            fix = f"fix {key}" if source == key else f"name it {key}, with a string value"
            raise UsageError(str(path), f"{named} must be a string", fix)
        return value

    def absent(key: str, fix: str) -> UsageError:
        hint = next(iter(difflib.get_close_matches(_fold(key), [_fold(k) for k in unused], n=1, cutoff=_HINT)), None)
        named = next((k for k in unused if _fold(k) == hint), None) if hint else None
        said = f"no {key}" + (f" (is {_shown(named)} meant to be it? the platform reads {key})" if named else "")
        return UsageError(str(path), said, fix)

    files = {}
    for key in ("keystoreFile", "truststoreFile"):
        value = text(key)
        if not value:
            raise absent(key, f"add {key} (a path, relative to the JSON file's folder)")
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
    for key, option_value in (("keystorePass", keystore_password), ("truststorePass", truststore_password)):
        value = text(key)
        option = "--keystore-password" if key == "keystorePass" else "--truststore-password"
        if option_value is None and value is None:
            raise absent(key, f"add it, or pass {option}-env VAR / -file FILE")
        passwords[key] = option_value if option_value is not None else Secret(value or "")
        origins[key] = f"the {option}-env/-file option" if option_value is not None else f"{path.name}"
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
        tuple(near),
        tuple(unused),
        name=name if isinstance(name := doc.get("name"), str) and name.strip() else None,
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
