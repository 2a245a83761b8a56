"""Acceptable client CA names for a server ``ssl.SSLContext``, which the stdlib cannot set.

Only ``harness.server.tls_context`` (the server's context), ``harness.server.personas``
(the verify callback) and the reports that say why CA names are off use this module.

Why not the stdlib: ``load_verify_locations`` only fills the trust store, and
``_ssl`` binds neither SSL_CTX_set_client_CA_list nor SSL_CTX_set0_CA_list, the
only sources of the names OpenSSL puts in the TLS 1.2 CertificateRequest and the
TLS 1.3 certificate_authorities extension (get_ca_names, ssl/statem/statem_lib.c).
So a Python server lists no CAs, and JSSE then offers any key entry where a
production server's list makes it send only a certificate whose issuer is listed.

How: CPython's PySSLContext (Modules/_ssl.c, 3.11-3.13) is PyObject_HEAD then
``SSL_CTX *ctx``, which the object owns for its whole life; ``_ssl`` keeps no
copy of the CA list, so nothing goes stale. The list is written once, before the
context is shared or serves a connection, as a C server would, and
SSL_CTX_set_client_CA_list takes ownership of it.

Which OpenSSL: the copy ``_ssl`` itself is linked with, found without reading
process memory maps (no ``/proc``), never loaded a second time:

* Linux, macOS and other ELF/Mach-O systems: ``dlopen(_ssl's own file,
  RTLD_NOLOAD)`` is a handle on the extension already loaded, and ``dlsym`` on it
  searches that object and the libraries it was linked with, in load order
  (dlsym(3): "the dependency tree of that object") - so the names resolve to
  exactly the libssl/libcrypto ``_ssl`` uses. A Python whose ``_ssl`` is built in
  (a static interpreter) is tried through the process's global symbols.
* Windows: ``_ssl.pyd`` is shipped beside ``libssl-3*.dll`` / ``libcrypto-3*.dll``
  (python.org builds); ``GetModuleHandleW`` gives the copies already loaded, and
  nothing when they are not.

Before writing, the pointer is proved read-only: readable memory (tested by
handing it to ``write(2)`` on a pipe, which answers EFAULT for unmapped memory
where a dereference would crash; ``ReadProcessMemory`` on Windows), a server
method of that very library, the context's options, and a random ticket count
set through the public API and read back through the pointer. A wrong layout
fails these and is refused.

Where none of this works (a static OpenSSL with hidden symbols, another layout),
or ``MTLS_HARNESS_CA_NAMES=off`` asks for it, :func:`unavailable_reason` says why in
one line: the server then starts without CA names, and scenarios whose outcome
depends on them are skipped with that reason (failed when CI=true).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import ssl
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import ServerError

__all__ = ["CA_NAMES_ENV", "CaNamesUnavailable", "OpenSSL", "advertise", "context_openssl", "unavailable_reason"]

# "off": behave as a platform that cannot advertise CA names (tests, and users
# whose Python is refused). Anything else, or unset: advertise when possible.
CA_NAMES_ENV = "MTLS_HARNESS_CA_NAMES"

_FIX = "set ca_names = false in the scenario's [server] table"

# Bytes of SSL_CTX the checks may read: num_tickets, the farthest, is at 1040 in
# OpenSSL 3.0 on x86-64; the span leaves room for later versions.
_SSL_CTX_SPAN = 2048


class CaNamesUnavailable(ServerError):
    """This Python cannot advertise client CA names; the server runs without them."""


class OpenSSL:
    """The ssl module's own OpenSSL: handles searched in order for each function."""

    def __init__(self, where: str, handles: Sequence[ctypes.CDLL]) -> None:
        self.where = where
        self._handles = tuple(handles)

    def symbol(self, name: str) -> Any:
        for handle in self._handles:
            try:
                return getattr(handle, name)
            except AttributeError:
                continue
        raise AttributeError(name)

    def function(self, name: str, restype: Any, *argtypes: Any) -> Any:
        """The C function ``name``, typed; CaNamesUnavailable where this OpenSSL does not export it."""
        try:
            fn = self.symbol(name)
        except AttributeError:
            # e.g. SSL_CTX_get_options is a macro before OpenSSL 3.0; a static
            # OpenSSL does not export its functions at all.
            raise CaNamesUnavailable(
                "local server",
                f"cannot advertise client CA names: {name} not found through {self.where} (OpenSSL older than 3.0,"
                " or linked statically)",
                _FIX,
            ) from None
        fn.restype, fn.argtypes = restype, list(argtypes)
        return fn

    def __repr__(self) -> str:
        return f"<OpenSSL of the ssl module via {self.where}>"


@cache
def _loaded_libssl() -> tuple[OpenSSL, ...]:
    """Candidates for the OpenSSL ``_ssl`` uses, without /proc; each is proved before use.

    Cached: an extension module is never unloaded, so its handles stay valid.
    """
    import _ssl

    module = getattr(_ssl, "__file__", None)
    candidates: list[OpenSSL] = []
    if sys.platform == "win32":
        if module:
            folder = Path(module).parent
            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            kernel32.GetModuleHandleW.restype = ctypes.c_void_p
            kernel32.GetModuleHandleW.argtypes = [ctypes.c_wchar_p]
            handles = []
            for pattern in ("libssl-*.dll", "libcrypto-*.dll"):
                for dll in sorted(folder.glob(pattern)):
                    # Only a module already loaded: never a second copy.
                    if handle := kernel32.GetModuleHandleW(str(dll)):
                        handles.append(ctypes.CDLL(str(dll), handle=handle))
            if handles:
                candidates.append(OpenSSL(str(folder), handles))
        return tuple(candidates)
    if module:
        # RTLD_NOLOAD: a handle on the extension already mapped, or nothing.
        with contextlib.suppress(OSError):
            candidates.append(OpenSSL(module, [ctypes.CDLL(module, mode=os.RTLD_NOLOAD)]))
    else:
        # _ssl built into the interpreter: OpenSSL, if exported, is in the global scope.
        candidates.append(OpenSSL("the interpreter", [ctypes.CDLL(None)]))
    return tuple(candidates)


def _readable(address: int, size: int) -> bool:
    """Whether ``size`` bytes at ``address`` can be read, asked without reading them in Python."""
    if address <= 0 or address % 8 or address + size >= 1 << 63:
        return False
    if sys.platform == "win32":
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.GetCurrentProcess.restype = ctypes.c_void_p
        kernel32.ReadProcessMemory.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_size_t),
        ]
        buffer = ctypes.create_string_buffer(size)
        done = ctypes.c_size_t(0)
        ok = kernel32.ReadProcessMemory(kernel32.GetCurrentProcess(), address, buffer, size, ctypes.byref(done))
        return bool(ok) and done.value == size
    # write(2) copies from the address in the kernel, which answers EFAULT for
    # memory that is not mapped readable, where a dereference would crash.
    write = _posix_write()
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        return int(write(write_end, address, size)) == size
    finally:
        os.close(read_end)
        os.close(write_end)


@cache
def _posix_write() -> Any:
    write = ctypes.CDLL(None, use_errno=True).write
    write.restype, write.argtypes = ctypes.c_ssize_t, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    return write


def _ssl_ctx_pointer(ctx: ssl.SSLContext, lib: OpenSSL, offset: int) -> int:
    """The ``SSL_CTX *`` of ``ctx`` at ``offset`` in the object, proved before use."""

    def refuse(why: str) -> CaNamesUnavailable:
        return CaNamesUnavailable(
            "local server",
            f"cannot advertise client CA names: {why}",
            _FIX + ", or run a CPython whose ssl module uses a shared OpenSSL 3 library",
        )

    vp = ctypes.c_void_p
    if not isinstance(ctx, ssl.SSLContext) or offset + 8 > type(ctx).__basicsize__ or offset < 0:
        raise refuse("not a CPython SSLContext with the expected layout")
    version = lib.function("OpenSSL_version_num", ctypes.c_ulong)()
    if version != ssl.OPENSSL_VERSION_NUMBER:
        raise refuse(f"libssl {version:#x} is not the ssl module's {ssl.OPENSSL_VERSION_NUMBER:#x}")
    pointer = vp.from_address(id(ctx) + offset).value or 0
    if not _readable(pointer, _SSL_CTX_SPAN):
        raise refuse("the SSL_CTX pointer does not point to readable memory")
    if lib.function("SSL_CTX_get_ssl_method", vp, vp)(pointer) != (lib.function("TLS_server_method", vp)()):
        raise refuse("the SSL_CTX pointer is not a TLS server context of this libssl")
    if lib.function("SSL_CTX_get_options", ctypes.c_uint64, vp)(pointer) != int(ctx.options):
        raise refuse("the SSL_CTX options differ from the context's")
    saved, probe = ctx.num_tickets, 1000 + secrets.randbelow(1 << 20)
    ctx.num_tickets = probe
    try:
        if lib.function("SSL_CTX_get_num_tickets", ctypes.c_size_t, vp)(pointer) != probe:
            raise refuse("the SSL_CTX session ticket count differs from the context's")
    finally:
        ctx.num_tickets = saved
    return pointer


def _proved(ctx: ssl.SSLContext, offset: int) -> tuple[OpenSSL, int]:
    """The OpenSSL and ``SSL_CTX *`` of ``ctx`` for CA names; ``CaNamesUnavailable`` when off or none is proved."""
    if os.environ.get(CA_NAMES_ENV, "").strip().lower() == "off":
        raise CaNamesUnavailable("local server", f"switched off by {CA_NAMES_ENV}=off", f"unset {CA_NAMES_ENV}")
    return context_openssl(ctx, offset)


def context_openssl(ctx: ssl.SSLContext, offset: int = object.__basicsize__) -> tuple[OpenSSL, int]:
    """The ssl module's OpenSSL and the proved ``SSL_CTX *`` of ``ctx`` (also for the personas' verify
    callback); ``CaNamesUnavailable`` when no candidate is proved."""
    try:
        libs = _loaded_libssl()
    except (OSError, ValueError, TypeError) as exc:  # a loader that refuses: off, never a traceback
        libs = ()
        why = f" ({type(exc).__name__})"
    else:
        why = ""
    if not libs:
        raise CaNamesUnavailable(
            "local server",
            "cannot advertise client CA names: the ssl module's OpenSSL is not a shared library this process"
            f" can use{why}",
            _FIX,
        )
    errors: list[CaNamesUnavailable] = []
    for lib in libs:
        try:
            return lib, _ssl_ctx_pointer(ctx, lib, offset)
        except CaNamesUnavailable as exc:
            errors.append(exc)
        except (OSError, ValueError, TypeError) as exc:  # ctypes refusing a call: this candidate is out
            errors.append(
                CaNamesUnavailable(
                    "local server", f"cannot advertise client CA names: {type(exc).__name__} via {lib.where}", _FIX
                )
            )
    raise errors[0]


def advertise(ctx: ssl.SSLContext, client_cas: Path, *, offset: int = object.__basicsize__) -> None:
    """Advertise the subjects of the certificates in ``client_cas`` (PEM) as ``ctx``'s acceptable CA names.

    Raises ``CaNamesUnavailable`` when this Python cannot (nothing written), and
    ``ServerError`` when ``client_cas`` holds no certificate names.
    """
    lib, pointer = _proved(ctx, offset)
    vp = ctypes.c_void_p
    names = lib.function("SSL_load_client_CA_file", vp, ctypes.c_char_p)(os.fsencode(client_cas))
    # Leave no error behind in OpenSSL's per-thread queue, where the ssl
    # module could later mistake it for the cause of an unrelated failure.
    lib.function("ERR_clear_error", None)()
    if not names:
        raise ServerError(
            str(client_cas),
            "no CA certificate names could be read",
            "give a PEM bundle of the client CA certificates",
        )
    # Takes ownership of the name list.
    lib.function("SSL_CTX_set_client_CA_list", None, vp, vp)(pointer, names)


def advertised_names(ctx: ssl.SSLContext) -> int:
    """How many CA names ``ctx`` advertises (read back through OpenSSL; for tests and reports)."""
    lib, pointer = _proved(ctx, object.__basicsize__)
    vp = ctypes.c_void_p
    stack = lib.function("SSL_CTX_get_client_CA_list", vp, vp)(pointer)
    return int(lib.function("OPENSSL_sk_num", ctypes.c_int, vp)(stack)) if stack else 0


def unavailable_reason() -> str | None:
    """``None`` when this Python can advertise client CA names, else one line saying why not."""
    return _reason(os.environ.get(CA_NAMES_ENV, ""))


@cache
def _reason(switch: str) -> str | None:
    # The answer depends only on the interpreter and the switch: proved once
    # per process on a throwaway server context.
    del switch  # the cache key; _proved reads the environment itself
    try:
        _proved(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), object.__basicsize__)
    except CaNamesUnavailable as exc:
        return f"CA names are off on this platform: {exc.what.removeprefix('cannot advertise client CA names: ')}"
    return None
