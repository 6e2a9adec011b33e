"""A certificate authority made by the tests (the `cryptography` package), and a directory
that changes the way a Kubernetes Secret volume does, for the API's TLS and token tests."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_serials = count(1000)
PEM = serialization.Encoding.PEM


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass(frozen=True)
class Issued:
    cert: bytes  # PEM
    key: bytes  # PEM
    serial: int


class TestCA:
    """A CA, its certificate in ``<directory>/<name>.pem``, issuing server and client pairs."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, directory: Path, name: str = "test-ca") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.name = name
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(next(_serials))
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.path = directory / f"{name}.pem"
        self.path.write_bytes(self._cert.public_bytes(PEM))

    def issue(self, common_name: str, *, client: bool = False) -> Issued:
        """A server certificate for localhost and 127.0.0.1, or a client certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        serial = next(_serials)
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if not client:
            names: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Issued(cert.public_bytes(PEM), _key_pem(key), serial)

    def client_context(
        self, client: Issued | None = None, directory: Path | None = None
    ) -> ssl.SSLContext:
        """A client context trusting this CA, presenting ``client`` if given."""
        context = ssl.create_default_context(cafile=self.path)
        if client is not None and directory is not None:
            cert, key = (
                directory / f"client-{client.serial}.crt",
                directory / f"client-{client.serial}.key",
            )
            cert.write_bytes(client.cert)
            key.write_bytes(client.key)
            context.load_cert_chain(cert, key)
        return context


class SecretVolume:
    """Files that change as a Secret volume's do: each version in its own directory, the
    names links through ``..data``, which is swapped for the next version in one rename."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._versions = count(1)

    def path(self, name: str) -> Path:
        return self.directory / name

    def write(self, files: dict[str, bytes]) -> None:
        version = self.directory / f"..v{next(self._versions)}"
        version.mkdir()
        for name, content in files.items():
            (version / name).write_bytes(content)
            link = self.directory / name
            if not link.is_symlink():
                link.symlink_to(Path("..data") / name)
        swap = self.directory / "..data_tmp"
        swap.symlink_to(version.name)
        os.replace(swap, self.directory / "..data")
