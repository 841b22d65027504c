"""PURE: the service-account files the kubelet mounts in every container unless automountServiceAccountToken is false.

The token is shaped like a real bound token (a JWT whose claims name the namespace and the account), but it is not
signed by anything: no API server is there to accept it. The CA is a fixed certificate whose key was never kept.
What a suite can check is what differs between a cluster and a plain engine: that the files are there (or not), and
what the namespace file says.
"""

from __future__ import annotations

import base64
import json

ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_CA = """\
-----BEGIN CERTIFICATE-----
MIIB2zCCAYGgAwIBAgIUIf6Zf5/JS3i7gByWD4Qb+CtLaO4wCgYIKoZIzj0EAwIw
OjE4MDYGA1UEAwwvcG9ydHRlc3Qgc3ludGhlc2lzZWQgY2x1c3RlciBDQSAobm8g
a2V5IGV4aXN0cykwIBcNMjYxMjAyMTcyMzM3WhgPMjEyNjExMDgxNzIzMzdaMDox
ODA2BgNVBAMML3BvcnR0ZXN0IHN5bnRoZXNpc2VkIGNsdXN0ZXIgQ0EgKG5vIGtl
eSBleGlzdHMpMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESRxM9Hzr0LM24Rs9
63gS2UKbmhmwPg+42e7VO+awPEKtHRdt60dTSUVSbCW9yCG9uZZo967bjwm5/kLI
uhCq4qNjMGEwHQYDVR0OBBYEFIGpgBkstOdD/b+w0XLXCdZSiWrcMB8GA1UdIwQY
MBaAFIGpgBkstOdD/b+w0XLXCdZSiWrcMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P
AQH/BAQDAgEGMAoGCCqGSM49BAMCA0gAMEUCIAdBVthf279/A1yKm8U/INVE9YCB
wXVwcNZs0NbVDRpCAiEAi92J3Rb/5S7uRmBAgLnDRlA5GU9eQeNUbOGxRSaVjeo=
-----END CERTIFICATE-----
"""


def _segment(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token(namespace: str, account: str, pod: str) -> str:
    """A bound-token-shaped JWT for the account (header.claims.signature), signed by nothing."""
    claims: dict[str, object] = {"aud": [ISSUER], "iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{account}",
              "kubernetes.io": {"namespace": namespace, "pod": {"name": pod}, "serviceaccount": {"name": account}}}
    signature = base64.urlsafe_b64encode(b"porttest: not signed").decode().rstrip("=")
    return ".".join((_segment({"alg": "RS256", "kid": "porttest"}), _segment(claims), signature))


def account_files(namespace: str, account: str, pod: str) -> dict[str, str]:
    """The projected volume's files by their path in the container."""
    return {f"{ACCOUNT_DIR}/ca.crt": CLUSTER_CA, f"{ACCOUNT_DIR}/namespace": namespace,
            f"{ACCOUNT_DIR}/token": token(namespace, account, pod)}
