"""PURE: Compose's variable interpolation (${VAR:-default} and friends) and its .env file format."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from porttest.errors import ConfigError, ConfigIssue

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=?)")
# In double quotes; `\$` stays a literal dollar through the interpolation that follows.
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "$": "$$"}
# Variables whose values are masked in every output (the loader's rule for the matrix's own variables).
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_MENTION = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
INTERPOLATION_HINT = "write $$ for a literal dollar sign; variables are $NAME or ${NAME}, ${NAME:-default}"


class InterpolationError(ValueError):
    """A value Compose would refuse: a bad `$` expression, or `${VAR:?message}` with VAR unset."""


@dataclass(frozen=True)
class Interpolated:
    """A value after interpolation, and the variables it read that were unset (Compose warns and uses "")."""

    text: str
    unset: tuple[str, ...] = ()


def interpolate(text: str, env: Mapping[str, str]) -> Interpolated:
    """Interpolate as Compose does: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
    ${VAR:+replacement}, ${VAR+replacement} (nested in defaults too), and $$ for a literal $."""
    unset: list[str] = []
    out, _ = _expand(text, 0, env, unset, nested=False)
    return Interpolated(out, tuple(dict.fromkeys(unset)))


def secret_values(text: str, env: Mapping[str, str]) -> set[str]:
    """The values of the secret-looking variables (SECRET_NAME) that `text` mentions, to be masked."""
    values = (env.get(name) or "" for name in _MENTION.findall(text) if SECRET_NAME.search(name))
    return {value for value in values if len(value) >= 4}  # shorter ones would mask ordinary words


def _expand(text: str, pos: int, env: Mapping[str, str], unset: list[str], nested: bool) -> tuple[str, int]:
    """Expand from `pos` to the end, or (when nested) to the `}` that closes the enclosing ${...}."""
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if nested and char == "}":
            return "".join(out), pos
        if char != "$":
            out.append(char)
            pos += 1
            continue
        following = text[pos + 1: pos + 2]
        if following == "$":
            out.append("$")
            pos += 2
        elif following == "{":
            value, pos = _braced(text, pos + 2, env, unset)
            out.append(value)
        else:
            match = _NAME.match(text, pos + 1)
            if match is None:
                raise InterpolationError(f"invalid interpolation format in {text!r}: a lone `$`")
            out.append(_lookup(match.group(), env, unset))
            pos = match.end()
    if nested:
        raise InterpolationError(f"invalid interpolation format in {text!r}: a `${{` is never closed")
    return "".join(out), pos


def _braced(text: str, pos: int, env: Mapping[str, str], unset: list[str]) -> tuple[str, int]:
    match = _NAME.match(text, pos)
    if match is None:
        raise InterpolationError(f"invalid interpolation format in {text!r}: `${{` takes a variable name")
    name, pos = match.group(), match.end()
    if pos >= len(text):
        raise InterpolationError(f"invalid interpolation format in {text!r}: a `${{` is never closed")
    if text[pos: pos + 1] == "}":
        return _lookup(name, env, unset), pos + 1
    operator = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
    if operator is None:
        raise InterpolationError(f"invalid interpolation format in {text!r} after ${{{name}")
    inner: list[str] = []  # variables unset in the word count only when the word is used
    word, end = _expand(text, pos + len(operator), env, inner, nested=True)
    value = env.get(name)
    empty = value is None or (value == "" and operator.startswith(":"))
    if operator.endswith("?"):
        if empty:
            raise InterpolationError(f"required variable {name} is {'unset' if value is None else 'empty'}"
                                     + (f": {word}" if word else ""))
        return str(value), end + 1
    if operator.endswith("-"):
        if empty:
            unset.extend(inner)
            return word, end + 1
        return str(value), end + 1
    if empty:  # ${VAR:+replacement}: the replacement only when VAR is set
        return "", end + 1
    unset.extend(inner)
    return word, end + 1


def _lookup(name: str, env: Mapping[str, str], unset: list[str]) -> str:
    value = env.get(name)
    if value is None:
        unset.append(name)
        return ""
    return value


def read_dotenv(path: str | Path, env: Mapping[str, str] | None = None, *, raw: bool = False) -> dict[str, str]:
    """A .env file in Compose's format; {} when the file does not exist. ConfigError (file, line) when malformed.

    `KEY=value`, `export KEY=value`, comments (`#` at the start, or after a space when unquoted), 'single quotes'
    (literal), "double quotes" (escapes \\n \\t \\\\ \\"; may span lines). Unquoted and double-quoted values are
    interpolated from `env` first, then from the keys above them in the file. `KEY` alone takes KEY from `env`, or
    is left out. `raw` takes every value verbatim, as Compose's `env_file: {format: raw}` does.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(ConfigIssue("", f"cannot read {file}: {exc}", None, str(file))) from None
    return parse_dotenv(text, str(file), env or {}, raw=raw)


def parse_dotenv(text: str, file: str, env: Mapping[str, str], *, raw: bool = False) -> dict[str, str]:
    """The text of a .env file (see read_dotenv); `file` only locates problems."""
    lines = text.splitlines()
    out: dict[str, str] = {}
    number = 0
    while number < len(lines):
        line, first = lines[number], number + 1
        number += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY.match(line)
        if match is None:
            raise _dotenv_error(file, first, f"not KEY=VALUE: {line.strip()[:60]!r}")
        key, rest = match.group(1), line[match.end():]
        if not match.group(2):
            if rest.strip() and not rest.strip().startswith("#"):
                raise _dotenv_error(file, first, f"not KEY=VALUE: {line.strip()[:60]!r}")
            if key in env:
                out[key] = env[key]
            continue
        if raw:
            out[key] = rest
            continue
        rest = rest.lstrip()
        quote = rest[:1]
        if quote in ("'", '"'):
            value, rest, number = _quoted(rest, quote, lines, number, file, first)
            if rest.strip() and not rest.strip().startswith("#"):
                raise _dotenv_error(file, first, f"text after the closing quote: {rest.strip()[:40]!r}")
            if quote == "'":
                out[key] = value
                continue
        else:
            value = re.split(r"\s#", rest, maxsplit=1)[0].strip()
        try:
            out[key] = interpolate(value, {**out, **env}).text
        except InterpolationError as exc:
            raise _dotenv_error(file, first, str(exc), INTERPOLATION_HINT) from None
    return out


def _quoted(rest: str, quote: str, lines: list[str], number: int, file: str, first: int) -> tuple[str, str, int]:
    """A quoted value from just after its opening quote, across lines: (value, text after it, next line index)."""
    value: list[str] = []
    text, pos = rest, 1
    while True:
        while pos < len(text):
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                escaped = text[pos + 1]
                if quote == '"' and escaped in _ESCAPES:
                    value.append(_ESCAPES[escaped])
                elif quote == "'" and escaped == "'":
                    value.append("'")
                else:
                    value.append(char + escaped)
                pos += 2
                continue
            if char == quote:
                return "".join(value), text[pos + 1:], number
            value.append(char)
            pos += 1
        if number >= len(lines):
            raise _dotenv_error(file, first, f"the {quote} quote is never closed",
                                "close the quote; a quoted value may span lines")
        value.append("\n")
        text, pos, number = lines[number], 0, number + 1


def _dotenv_error(file: str, line: int, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(ConfigIssue("", message, hint or "each line is KEY=VALUE, `export KEY=VALUE` or a # comment",
                                   file, line))


def compose_environment(project_dir: str | Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables Compose interpolates with: the project's .env file, overridden by the shell's environment."""
    return {**read_dotenv(Path(project_dir) / ".env", environ), **environ}
