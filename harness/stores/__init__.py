"""Keystores and truststores: read and write them as the JDK does.

Writing: JKS through pyjks, PKCS#12 through ``cryptography`` (both read back
by the real ``keytool`` in the tests). Reading: JKS and JCEKS through pyjks,
PKCS#12 and PEM through ``cryptography``. A store's type is found from its
content, never from its file name: a PKCS#12 file named ``.jks`` is common,
and the JDK opens it anyway.

Modules: ``entries`` (what a store holds), ``detect`` (type by content, the
PKCS#12 DER walk), ``refusals`` (the errors every reader shares), ``jks``,
``pkcs12``, ``pem`` (one format each), ``read`` (``read_store``,
``load_key_pair``), ``write`` (the bytes of a store to write) and ``written``
(what a store the harness wrote plainly reads back to, kept in memory).

Only ``harness.stores.jks`` imports pyjks.
"""

from __future__ import annotations

from harness.stores.detect import detect_type, pkcs12_iteration_counts
from harness.stores.entries import CertEntry, KeyEntry, Role, StoreContents, StoreType
from harness.stores.jks import jks_bytes
from harness.stores.pkcs12 import pkcs12_bytes
from harness.stores.read import load_key_pair, read_store
from harness.stores.write import alias_for, keystore_bytes, scenario_store_bytes, truststore_bytes
from harness.stores.written import WrittenStore, read_store_as_written, why_read_from_disk, written_contents

__all__ = [
    "CertEntry",
    "KeyEntry",
    "Role",
    "StoreContents",
    "StoreType",
    "WrittenStore",
    "alias_for",
    "detect_type",
    "jks_bytes",
    "keystore_bytes",
    "load_key_pair",
    "pkcs12_bytes",
    "pkcs12_iteration_counts",
    "read_store",
    "read_store_as_written",
    "scenario_store_bytes",
    "truststore_bytes",
    "why_read_from_disk",
    "written_contents",
]
