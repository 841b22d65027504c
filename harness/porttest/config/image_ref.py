"""Image references as Docker parses them (github.com/distribution/reference: reference.go, regexp.go, normalize.go).

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]        host: domain-name | IPv4 | [IPv6]
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    path-component   := alpha-numeric [separator alpha-numeric]*     alpha-numeric := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" /[0-9a-fA-F]{32,}/

As in `docker run`, the first part is a registry only when it holds a `.` or a `:`, is `localhost`, or has an
uppercase letter; the repository path must be lowercase. A bare 64-hex image ID and `sha256:<64 hex>` name an image
by ID, as Docker accepts them.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE = f"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(f"((?:{_DOMAIN}/)?{_REMOTE})(?::({_TAG}))?(?:@({_DIGEST}))?")
_TAG_RE = re.compile(_TAG)
_DIGEST_RE = re.compile(_DIGEST)
_IMAGE_ID = re.compile(r"(?:sha256:)?[a-f0-9]{64}")
MAX_NAME = 255
HINT = ("write [REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST], the repository in lowercase, e.g. shop/api:1.4.2 or "
        "registry.example.com:5000/shop/api@sha256:...")


def reference_problem(ref: str) -> str | None:
    """What is wrong with an image reference (None: Docker would accept it), checked in the order Docker's
    ParseNormalizedNamed checks, with the part at fault named where it can be."""
    if not ref:
        return "the image reference is empty"
    if len(ref) > 2 * MAX_NAME + 300 or any(c.isspace() or not c.isprintable() for c in ref):
        return "not an image reference (it is too long, or holds spaces or control characters)"
    if _IMAGE_ID.fullmatch(ref):
        return None
    first, slash, after = ref.partition("/")
    registry = bool(slash) and ("." in first or ":" in first or first == "localhost" or first.lower() != first)
    remote = (after if registry else ref).split(":", 1)[0].split("@", 1)[0]
    if remote.lower() != remote:
        return f"the repository name must be lowercase (`{_short(remote)}`)"
    match = _REFERENCE.fullmatch(ref)
    if match is None:
        name, at, digest = ref.partition("@")
        if at and not _DIGEST_RE.fullmatch(digest):
            return f"`@{_short(digest)}` is not a digest (ALGORITHM:HEX, e.g. sha256: and 64 hex digits)"
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            tag = last.split(":", 1)[1]
            if not tag:
                return "the tag after `:` is empty"
            if not _TAG_RE.fullmatch(tag):
                return (f"`:{_short(tag)}` is not a tag (a tag is up to 128 letters, digits, `_`, `.` and `-`, "
                        "and does not start with `.` or `-`)")
        return "invalid reference format"
    path = match.group(1).split("/", 1)[1] if registry else match.group(1)
    if len(path) > MAX_NAME:
        return f"the repository name is longer than {MAX_NAME} characters"
    return None


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
