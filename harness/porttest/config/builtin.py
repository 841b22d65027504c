"""What ships with porttest: the built-in profiles (`extends: porttest:staging`) and suites (`porttest:baseline`).

In the wheel they are package data under `porttest/data/` (pyproject's force-include copies the repository's
`environments/*.yaml` and `suites/baseline` there at build time, so there is one copy in the repository and nothing
can drift). In a source checkout (an editable install) there is no `porttest/data/`, and the repository's own
folders are used: `porttest:staging` is `environments/staging.yaml` either way.

Relative paths written inside a built-in profile (cloud.yaml's `certs/ca.pem`) are relative to the folder of the file
that names `porttest:NAME` (the matrix, or a profile of the user's): the profile's own folder is inside the installed
package, where nobody keeps certificates.
"""

from __future__ import annotations

import difflib
from pathlib import Path

PREFIX = "porttest:"
_PACKAGE = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The folder that holds `environments/` and `suites/`: the package's data, else the source checkout's root."""
    shipped = _PACKAGE / "data"
    if (shipped / "environments").is_dir():
        return shipped
    return _PACKAGE.parent.parent  # harness/porttest -> the repository


def is_builtin(text: object) -> bool:
    """Whether an `extends:` or `suites:` entry names something that ships with porttest."""
    return isinstance(text, str) and text.startswith(PREFIX)


def profile_names() -> list[str]:
    folder = data_root() / "environments"
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def suite_names() -> list[str]:
    folder = data_root() / "suites"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) \
        if folder.is_dir() else []


def profile(text: str) -> Path | None:
    """The file of `porttest:NAME`, or None when no such profile ships."""
    name = text.removeprefix(PREFIX)
    return data_root() / "environments" / f"{name}.yaml" if name in profile_names() else None


def suite(text: str) -> Path | None:
    """The folder of `porttest:NAME`, or None when no such suite ships."""
    name = text.removeprefix(PREFIX)
    return data_root() / "suites" / name if name in suite_names() else None


def shown(file: str) -> str:
    """A built-in profile's file as `porttest:NAME` (its path inside an installed package says little); any other
    file as it is."""
    path = Path(file)
    if path.suffix == ".yaml" and path.parent == data_root() / "environments" and path.stem in profile_names():
        return PREFIX + path.stem
    return file


def names_hint(kind: str, wrong: str) -> str:
    """`did you mean porttest:staging? built-in profiles: porttest:cloud, ...` for an unknown name's hint."""
    names = profile_names() if kind == "profile" else suite_names()
    listed = ", ".join(PREFIX + n for n in names) or "none (this installation ships no data)"
    close = difflib.get_close_matches(wrong.removeprefix(PREFIX), names, n=1, cutoff=0.6)
    return (f"did you mean {PREFIX}{close[0]}? " if close else "") + f"built-in {kind}s: {listed}"
