"""Throwaway TLS certificates for the tests: a CA, a server certificate and a client certificate.

:func:`make_certificates` writes them with the ``cryptography`` package when it can be
imported, else with the ``openssl`` command; when neither is available it raises
:class:`CertificatesUnavailable`, whose message says so (tests skip with it). The server
certificate is valid for ``127.0.0.1`` and ``localhost``, so clients may keep hostname
checks on.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["Certificates", "CertificatesUnavailable", "make_certificates", "tls_server_args"]

# Days the test certificates are valid; long enough for any run, short enough to be obviously fake.
VALIDITY_DAYS = 2
# Seconds one openssl call may take.
OPENSSL_TIMEOUT = 60
SERVER_NAMES = ("localhost",)
SERVER_ADDRESSES = ("127.0.0.1",)


class CertificatesUnavailable(RuntimeError):
    """Neither the ``cryptography`` package nor the ``openssl`` command can make certificates."""


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA certificate, the server's and the client's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def tls_server_args(certs: Certificates, port: int, auth_clients: str = "optional") -> list[str]:
    """``redis-server`` options for TLS only on ``port`` (the plain TCP port is turned off).

    ``auth_clients`` is ``tls-auth-clients``: ``yes`` requires a client certificate signed
    by the CA, ``optional`` accepts clients without one.
    """
    return [
        "--port", "0",
        "--tls-port", str(port),
        "--tls-cert-file", str(certs.server_cert),
        "--tls-key-file", str(certs.server_key),
        "--tls-ca-cert-file", str(certs.ca_cert),
        "--tls-auth-clients", auth_clients,
    ]  # fmt: skip


def make_certificates(directory: Path, method: Optional[str] = None) -> Certificates:
    """Write a CA and the certificates it signs into ``directory``.

    ``method`` forces ``"cryptography"`` or ``"openssl"``; by default the first usable one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    certs = Certificates(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )
    if method in (None, "cryptography"):
        try:
            import cryptography  # noqa: F401
        except ImportError:
            if method == "cryptography":
                raise CertificatesUnavailable("the cryptography package is not installed") from None
        else:
            _with_cryptography(certs)
            return certs
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificatesUnavailable(
            "cannot make test certificates: install the cryptography package or the openssl command"
        )
    _with_openssl(openssl, directory, certs)
    return certs


def _with_cryptography(certs: Certificates) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)

    def builder(subject: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        builder("rq test CA", name("rq test CA"), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    certs.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    for subject, usage, cert_path, key_path in (
        ("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, certs.server_cert, certs.server_key),
        ("rq test client", ExtendedKeyUsageOID.CLIENT_AUTH, certs.client_cert, certs.client_key),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in SERVER_NAMES]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_ADDRESSES]
        cert = (
            builder(subject, ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(authority, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, key_path)


def _with_openssl(openssl: str, directory: Path, certs: Certificates) -> None:
    def run(*args: str) -> None:
        result = subprocess.run(
            [openssl, *args], cwd=directory, capture_output=True, text=True, timeout=OPENSSL_TIMEOUT
        )
        if result.returncode != 0:
            raise CertificatesUnavailable(f"openssl {args[0]} failed: {result.stderr.strip()}")

    days = str(VALIDITY_DAYS)
    ec_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("req", "-x509", *ec_key, "-keyout", "ca.key", "-out", str(certs.ca_cert), "-days", days,
        "-subj", "/CN=rq test CA", "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")  # fmt: skip
    alt_names = ",".join([f"DNS:{dns}" for dns in SERVER_NAMES] + [f"IP:{ip}" for ip in SERVER_ADDRESSES])
    for stem, subject, usage, cert_path, key_path in (
        ("server", "/CN=127.0.0.1", "serverAuth", certs.server_cert, certs.server_key),
        ("client", "/CN=rq test client", "clientAuth", certs.client_cert, certs.client_key),
    ):
        extensions = directory / f"{stem}.ext"
        extensions.write_text(
            f"basicConstraints=critical,CA:FALSE\nextendedKeyUsage={usage}\nsubjectAltName={alt_names}\n"
        )
        run("req", *ec_key, "-keyout", str(key_path), "-out", f"{stem}.csr", "-subj", subject)
        run("x509", "-req", "-in", f"{stem}.csr", "-CA", str(certs.ca_cert), "-CAkey", "ca.key",
            "-CAcreateserial", "-out", str(cert_path), "-days", days, "-extfile", str(extensions))  # fmt: skip
        key_path.chmod(0o600)
