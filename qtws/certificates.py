"""Certificate decisions: the object ``WebSocket.certificate_error`` carries, and pinning.

How it works
------------
When a ``wss`` server's certificate fails verification and the application listens to
``certificate_error``, the driver dials once more with verification off, only to read the
certificate (then closes that connection, before any HTTP is sent), and emits an
:class:`UntrustedCertificate`: the DER bytes, the SHA-256 fingerprint, subject, issuer,
validity, and the verification error.  A slot that calls :meth:`UntrustedCertificate.accept`
makes the connection go on: the driver dials again in *pinned* mode for that fingerprint.

Pinned mode (``Config.pinned_certificates``, or an accepted certificate) does not consult the
CA store or the host name: after the TLS handshake the leaf certificate's SHA-256 must be one
of the pins, exactly as ``ssh`` trusts a known host key; otherwise the attempt fails with
:class:`PinMismatchError` (an ``ssl.SSLCertVerificationError``).  Nothing is ever accepted
silently.

The subject and issuer come from a small DER reader (the standard library decodes
certificates only after verifying them); they are for display, and a malformed certificate
gives empty strings, never an exception.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import ssl
import threading

from .errors import InvalidState

__all__ = [
    "PinMismatchError",
    "UntrustedCertificate",
    "fingerprint",
    "normalise_fingerprint",
    "pinning_context",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
# X.520 attribute types shown by name (RFC 4514 section 3, plus emailAddress).
_OID_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "emailAddress",
}
_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be"}


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate: 64 lower-case hex digits."""
    return hashlib.sha256(der).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """``"AB:CD:..."``, ``"ab cd ..."`` or ``"abcd..."`` as 64 lower-case hex digits;
    ``ValueError`` for anything that is not a SHA-256 fingerprint."""
    if not isinstance(text, str):
        raise TypeError(f"a certificate fingerprint is a str, not {type(text).__name__}")
    digits = re.sub(r"[\s:]", "", text).lower()
    if not _HEX64.fullmatch(digits):
        raise ValueError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
    return digits


class PinMismatchError(ssl.SSLCertVerificationError):
    """The server's certificate is not one of the pinned (or accepted) fingerprints."""

    def __init__(self, host: str, port: int, der: bytes) -> None:
        self.der = der
        self.fingerprint = fingerprint(der)
        message = (
            f"the certificate of {host}:{port} does not match pinned_certificates "
            f"(its SHA-256 fingerprint is {self.fingerprint})"
        )
        super().__init__(1, message)  # errno 1, like OpenSSL's own verification failures
        self.verify_code = 0
        self.verify_message = "certificate does not match the pinned fingerprints"


class UntrustedCertificate:
    """A certificate that failed verification, offered to ``certificate_error`` slots.

    Call :meth:`accept` from the slot to trust it for this connection (and the reconnects of
    the same ``open()``); to trust it next time too, put :attr:`fingerprint` into
    ``Config(pinned_certificates=...)``."""

    def __init__(self, host: str, port: int, der: bytes, error: ssl.SSLCertVerificationError):
        self.host = host
        self.port = port
        self.der = der  #: the certificate, DER-encoded
        self.fingerprint = fingerprint(der)  #: SHA-256, 64 lower-case hex digits
        self.error = error  #: why verification failed (``verify_message``, ``verify_code``)
        info = _describe(der)
        self.subject: str = info[0]  #: e.g. ``"CN=device.local, O=Acme"`` (for display)
        self.issuer: str = info[1]
        self.not_before: datetime.datetime | None = info[2]
        self.not_after: datetime.datetime | None = info[3]
        self._accepted = False
        self._deciding = False
        self._lock = threading.Lock()

    @property
    def accepted(self) -> bool:
        """True once a slot called :meth:`accept`."""
        return self._accepted

    def accept(self) -> None:
        """Trust this exact certificate for this connection: it then goes on, pinned to
        :attr:`fingerprint`.  Only from a ``certificate_error`` slot (while it runs)."""
        with self._lock:
            if not self._deciding:
                raise InvalidState(
                    "accept() works only inside a certificate_error slot; to trust this "
                    "certificate later, use Config(pinned_certificates=(fingerprint,))"
                )
            self._accepted = True

    def __repr__(self) -> str:
        return (
            f"<qtws.UntrustedCertificate {self.host}:{self.port} subject={self.subject!r} "
            f"sha256={self.fingerprint} error={getattr(self.error, 'verify_message', '')!r}>"
        )


_pin_lock = threading.Lock()
_pin_context: ssl.SSLContext | None = None


def pinning_context() -> ssl.SSLContext:
    """The shared TLS context of pinned mode: no CA or hostname check (the fingerprint is
    checked after the handshake), SNI still sent."""
    global _pin_context
    with _pin_lock:
        if _pin_context is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            _pin_context = ctx
        return _pin_context


# ---------------------------------------------------------------------- a minimal DER reader
def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the element at ``pos``."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if not 0 < n <= 4 or pos + n > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + n], "big")
        pos += n
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        item = _tlv(der, start)
        out.append(item)
        start = item[2]
    return out


def _oid(raw: bytes) -> str:
    first = raw[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _name(der: bytes, start: int, end: int) -> str:
    """An X.501 Name as RFC 4514 shows it (most specific first), for display."""
    rdns = []
    for _, set_start, set_end in _children(der, start, end):
        atoms = []
        for _, seq_start, seq_end in _children(der, set_start, set_end):
            (_, o_start, o_end), (v_tag, v_start, v_end) = _children(der, seq_start, seq_end)[:2]
            oid = _oid(der[o_start:o_end])
            raw = der[v_start:v_end]
            codec = _STRING_CODECS.get(v_tag)
            value = raw.decode(codec, "replace") if codec else "#" + raw.hex()
            atoms.append(f"{_OID_NAMES.get(oid, oid)}={value}")
        rdns.append("+".join(atoms))
    return ", ".join(reversed(rdns))


def _time(der: bytes, tag: int, start: int, end: int) -> datetime.datetime:
    text = der[start:end].decode("ascii")
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"  # UTCTime / GeneralizedTime
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC)


def _describe(
    der: bytes,
) -> tuple[str, str, datetime.datetime | None, datetime.datetime | None]:
    """(subject, issuer, not_before, not_after) of a DER certificate (RFC 5280 4.1)."""
    try:
        _, cert_start, _ = _tlv(der, 0)
        _, tbs_start, tbs_end = _tlv(der, cert_start)
        fields = _children(der, tbs_start, tbs_end)
        if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, ...
        issuer, validity, subject = fields[2], fields[3], fields[4]
        times = _children(der, validity[1], validity[2])
        return (
            _name(der, subject[1], subject[2]),
            _name(der, issuer[1], issuer[2]),
            _time(der, *times[0]),
            _time(der, *times[1]),
        )
    except (IndexError, ValueError):  # UnicodeDecodeError is a ValueError
        return "", "", None, None
