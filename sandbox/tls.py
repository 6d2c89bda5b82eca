"""The sandbox's own certificate authority and the hub's certificate, for the TLS front (front.py).

The CA is made once and kept (ROOT/tls/, kept by ``down``, ``up`` and ``clean``): a browser or a
system told to trust ``ca.pem`` keeps trusting it. It can sign for this machine only: its name
constraints permit 127.0.0.0/8, ::1 and ``localhost``, so even its key, were it to leak, could not
vouch for any other site to a browser that trusts it. The hub's certificate (127.0.0.1, ::1,
localhost) is made again at every ``up``. Private keys are 0600 in a 0700 folder; the certificates
are not secrets (0644).

Both are dated by the kernel's wall clock (``wall_clock``), the one OpenSSL checks them against in the
front, curl, hubctl and browsers, never by this Python's: under ``make test-future`` Python's clock
(``datetime.now``, ``time.time``, even ``time.clock_gettime(CLOCK_REALTIME)``) is moved years ahead
while OpenSSL's is not, and a certificate dated by the moved clock would not be valid yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hubagent.files import write_secret

CA_YEARS = 10
# Browsers refuse a server certificate valid longer than 398 days; the front's is made at every up.
SERVER_DAYS = 90
# A CA that would expire while a certificate it signs is still valid is made again (and `up` says so).
CA_RENEW_BEFORE = dt.timedelta(days=SERVER_DAYS + 1)
# Valid from a day before it is made: a clock that checks it (a VM's, a phone's) may lag this one.
BACKDATE = dt.timedelta(days=1)
CLOCK_PROBE = ".clock"  # a file in the folder whose mtime the kernel stamps: see wall_clock
LOCAL_NAMES = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")
PERMITTED_NETWORKS = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA and the hub's certificate live (all under ROOT/tls/)."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "hub.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "hub-key.pem"


@dataclass(frozen=True)
class Issued:
    files: TlsFiles
    ca_made: bool  # a new CA: whoever trusted the old one must trust this one
    ca_fingerprint: str  # SHA-256 of the CA certificate, hex with colons (as browsers show it)
    ca_expires: dt.datetime
    server_expires: dt.datetime


def wall_clock(folder: Path) -> dt.datetime:
    """The kernel's wall clock: the modification time it stamps on a file touched now.

    This is the clock OpenSSL reads when it checks a certificate (in the front, curl, hubctl, browsers).
    Python's own may be moved: ``make test-future`` shifts ``datetime.now``, ``time.time`` and
    ``time.clock_gettime(CLOCK_REALTIME)`` in every Python process five years ahead, while file times
    (set by the kernel) and OpenSSL stay real. A certificate dated by the moved clock would be "not yet
    valid" for every client, so certificates are dated by this one.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    probe = folder / CLOCK_PROBE
    probe.touch(mode=0o600)
    os.utime(probe)  # times=None: the kernel stamps its current time, whatever Python's clock says
    return dt.datetime.fromtimestamp(probe.stat().st_mtime_ns / 1e9, dt.UTC)


def ensure(folder: Path, now: dt.datetime | None = None) -> Issued:
    """The kept CA (made when missing, unreadable or near its end) and a new certificate for the hub.

    ``now``: the time to date them by; None, the kernel's wall clock (``wall_clock``, not Python's)."""
    files = TlsFiles(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    now = now or wall_clock(folder)
    loaded = _load_ca(files, now)
    ca_made = loaded is None
    if loaded is None:
        loaded = _make_ca(files, now)
    ca_cert, ca_key = loaded
    server_cert = _issue_server(files, ca_cert, ca_key, now)
    return Issued(
        files=files,
        ca_made=ca_made,
        ca_fingerprint=fingerprint(ca_cert),
        ca_expires=ca_cert.not_valid_after_utc,
        server_expires=server_cert.not_valid_after_utc,
    )


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _load_ca(files: TlsFiles, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The kept CA, or None when it is missing, broken, not this key's, or ends too soon."""
    try:
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return None
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc - CA_RENEW_BEFORE:
        return None
    return cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "workshop-hub sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_secret(path, pem.decode("ascii"))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.chmod(0o644)
    tmp.replace(path)


def _make_ca(files: TlsFiles, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    # Each sandbox's CA has a name of its own: two trusted side by side are told apart.
    tag = hashlib.sha256(f"{socket.gethostname()}:{files.folder.resolve()}".encode()).hexdigest()[:8]
    name = _name(f"workshop-hub sandbox CA {tag}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[
                    *(x509.DNSName(n) for n in LOCAL_NAMES),
                    *(x509.IPAddress(ipaddress.ip_network(n)) for n in PERMITTED_NETWORKS),
                ],
                excluded_subtrees=None,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key first: a certificate on disk always has its key beside it.
    _write_key(files.ca_key, key)
    _write_cert(files.ca_cert, cert)
    return cert, key


def _issue_server(
    files: TlsFiles, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("workshop-hub sandbox hub"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        # (now + the shorter span, not min() of two datetimes: freezegun's class must stay now's)
        .not_valid_after(now + min(dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc - now))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    *(x509.DNSName(n) for n in LOCAL_NAMES),
                    *(x509.IPAddress(ipaddress.ip_address(a)) for a in LOCAL_ADDRESSES),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.server_key, key)
    _write_cert(files.server_cert, cert)
    return cert
