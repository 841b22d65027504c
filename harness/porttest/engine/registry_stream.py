"""PURE: read an engine's pull or push progress stream into bytes moved, the digest, and the first error."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_DIGEST = re.compile(r"\bdigest: (sha256:[0-9a-f]{64})\b")


@dataclass(frozen=True)
class StreamSummary:
    """What a progress stream said: bytes moved (per-layer totals), the manifest digest, and any error."""

    bytes: int = 0
    digest: str | None = None
    error: str | None = None


def read_stream(messages: Iterable[dict[str, Any] | str], moving: str) -> StreamSummary:
    """Consume the whole stream (a pull stops when its stream is not read); `moving` is Downloading or Pushing."""
    totals: dict[str, int] = {}
    digest = None
    error = None
    for message in messages:
        if not isinstance(message, dict):
            continue
        if error is None and (message.get("error") or message.get("errorDetail")):
            detail = message.get("errorDetail") or {}
            error = str(message.get("error") or (detail.get("message") if isinstance(detail, dict) else detail))
        aux = message.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
            digest = aux["Digest"]
        status = str(message.get("status") or "")
        found = _DIGEST.search(status)
        if found and digest is None:
            digest = found.group(1)
        progress = message.get("progressDetail")
        if status == moving and isinstance(progress, dict) and message.get("id"):
            total = progress.get("total")
            if isinstance(total, int) and total > 0:
                layer = str(message["id"])
                totals[layer] = max(totals.get(layer, 0), total)
    return StreamSummary(bytes=sum(totals.values()), digest=digest, error=error.strip() if error else None)


def split_digest_ref(ref: str) -> tuple[str, str]:
    """`repo@sha256:...` -> (`repo`, `sha256:...`)."""
    repo, _, digest = ref.partition("@")
    if not digest.startswith("sha256:"):
        raise ValueError(f"not a digest reference: {ref}")
    return repo, digest
