"""Running the real ``retape record`` CLI and the tiny upstreams in recorder tests."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import PYTHON, free_port, output_of, running, stop

TIMEOUT = 5.0


@dataclass
class Recording:
    proc: subprocess.Popen
    url: str
    out: Path

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal the recorder, wait (bounded), and return its exit code and output."""
        return stop(self.proc, sig=sig), output_of(self.proc)


@contextlib.contextmanager
def start_recorder(upstream: str, *extra: str, out: Path, home: Path) -> Iterator[Recording]:
    """``retape record`` in front of ``upstream``; stopped (if still alive) on exit.

    ``home`` is the recorder's HOME: mitmproxy keeps its CA in ~/.mitmproxy.
    """
    port = free_port()
    args = [PYTHON, "-m", "retape", "record", "--upstream", upstream]
    args += ["--listen", f"127.0.0.1:{port}", "--out", str(out), *extra]
    with running(args, port=port, env={"HOME": str(home)}) as proc:
        yield Recording(proc, f"http://127.0.0.1:{port}", out)


@contextlib.contextmanager
def serve_upstream(name: str, *tls: Path) -> Iterator[str]:
    """One of ``tests/recorder_upstreams.py``'s servers; yields its base URL."""
    port = free_port()
    args = [PYTHON, "-m", "tests.recorder_upstreams", name, str(port), *map(str, tls)]
    with running(args, port=port):
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


# The test CA signs certificates and nothing else.
CA_USAGE = dict.fromkeys(
    (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "encipher_only", "decipher_only",
    ),
    False,
) | {"key_cert_sign": True, "crl_sign": True}  # fmt: skip


def _pem(directory: Path, name: str, cert: x509.Certificate) -> Path:
    path = directory / name
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def private_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a 127.0.0.1 server certificate it signed: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_valid_before": now - datetime.timedelta(minutes=5)}
    valid["not_valid_after"] = now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "retape test CA")])
    ca = (
        x509.CertificateBuilder(issuer_name=ca_name, subject_name=ca_name, **valid)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(**CA_USAGE), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    leaf = (
        x509.CertificateBuilder(issuer_name=ca_name, subject_name=leaf_name, **valid)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_file = directory / "key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return _pem(directory, "ca.pem", ca), _pem(directory, "cert.pem", leaf), key_file
