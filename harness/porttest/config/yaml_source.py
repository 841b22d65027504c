"""Load YAML safely into plain data plus a map from YAML path to line, interpolating ${VAR} on the way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from porttest.errors import ConfigError, ConfigIssue

MAX_BYTES = 1_000_000
MAX_NODES = 100_000

Path_ = tuple[str | int, ...]

MERGE_TAGS = ("!override", "!reset")

_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\})", re.DOTALL)


@dataclass(frozen=True)
class Located:
    """A loaded YAML document: its data, where each path sits, and which variables it read."""

    data: Any
    file: str
    lines: Mapping[Path_, int]
    variables: Mapping[str, str] = field(default_factory=dict)
    issues: tuple[ConfigIssue, ...] = ()

    def deepest(self, path: Path_, shortest: int = 0) -> tuple[int, int | None]:
        """How much of `path` (its longest prefix, at least `shortest` parts long) this document wrote, and on
        which line: (length, line), or (-1, None) when it wrote none of it."""
        for end in range(len(path), shortest - 1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return end, line
        return -1, None


@dataclass(frozen=True)
class Tagged:
    """A value a matrix or profile wrote as `!override VALUE` (replace what a profile gave) or `!reset` (remove it).

    Only loading with `merge_tags=True` makes these; `porttest.config.merge.deep_merge` consumes them (and the
    Compose reader, for `extends` between services).
    """

    tag: str
    value: Any


def dotted(path: Path_) -> str:
    """Render a path the way users write it: environments.staging.run.read_only, suites[1]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def interpolate(text: str, env: Mapping[str, str], used: dict[str, str]) -> str:
    """Replace ${VAR} and ${VAR:-default}; $$ is a literal dollar. KeyError names an unset variable.

    `used` collects each variable with the value that was put in (the default, when the default was used).
    """

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "$"
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise KeyError(name)
            value = default
        used[name] = value
        return value

    return _VAR.sub(sub, text)


class _Walker:
    def __init__(self, file: str, env: Mapping[str, str] | None, merge_keys: bool = False,
                 merge_tags: bool = False) -> None:
        self.file = file
        self.env = env
        self.merge_keys = merge_keys
        self.merge_tags = merge_tags
        self.lines: dict[Path_, int] = {}
        self.issues: list[ConfigIssue] = []
        self.used: dict[str, str] = {}
        self.nodes = 0
        self.open: set[int] = set()  # ids of the collection nodes on the current path: an alias to one is a cycle

    def issue(self, path: Path_, line: int, message: str, hint: str | None = None) -> None:
        self.issues.append(ConfigIssue(dotted(path), message, hint, self.file, line))

    def walk(self, node: yaml.Node, path: Path_) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError(
                ConfigIssue(
                    dotted(path),
                    f"the document expands to more than {MAX_NODES} nodes",
                    "YAML aliases that expand exponentially are refused; write the values out",
                    self.file,
                    node.start_mark.line + 1,
                )
            )
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        if self.merge_tags and node.tag in MERGE_TAGS:
            return self.tagged(node, path, line)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if self.merge_tags and not node.tag.startswith("tag:yaml.org,2002:"):
                self.issue(path, line, f"unknown YAML tag {node.tag}",
                           "only !override and !reset are understood here; remove the tag")
            if id(node) in self.open:
                self.issue(path, line, "a YAML alias refers to a node that contains it (a cycle)",
                           "remove the recursive alias")
                return None
            self.open.add(id(node))
            try:
                return self.collection(node, path)
            finally:
                self.open.discard(id(node))
        return self.scalar(node, path)

    def tagged(self, node: yaml.Node, path: Path_, line: int) -> Any:
        """`!override` / `!reset` on a mapping, a sequence or a scalar: the value read as if untagged, marked."""
        plain: yaml.Node
        if isinstance(node, yaml.ScalarNode):
            implicit = (node.style is None, node.style is not None)
            tag = _CONSTRUCTOR.resolve(yaml.ScalarNode, node.value, implicit)  # type: ignore[no-untyped-call]
            plain = yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark, node.style)
        elif isinstance(node, yaml.MappingNode):
            plain = yaml.MappingNode("tag:yaml.org,2002:map", node.value, node.start_mark, node.end_mark)
        else:
            plain = yaml.SequenceNode("tag:yaml.org,2002:seq", node.value, node.start_mark, node.end_mark)
        if id(node) in self.open:
            self.issue(path, line, "a YAML alias refers to a node that contains it (a cycle)",
                       "remove the recursive alias")
            return None
        self.open.add(id(node))
        try:
            value = self.walk(plain, path)
        finally:
            self.open.discard(id(node))
        if not path or isinstance(path[-1], int):
            self.issue(path, line, f"{node.tag} goes on the value of a key",
                       f"write `key: {node.tag} VALUE` to act on what a profile gave for that key")
            return value
        return Tagged(node.tag, value)

    def collection(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            merges: list[yaml.Node] = []
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    if self.merge_keys:
                        merges.append(value_node)
                    else:
                        self.issue(path, key_node.start_mark.line + 1, "merge keys (<<) are not supported",
                                   "write the keys out, or use `extends:` for profiles")
                    continue
                key = self.scalar(key_node, path)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.issue(path, key_node.start_mark.line + 1, "mapping keys must be plain scalars")
                    continue
                key = str(key)
                child = (*path, key)
                if key in out:
                    self.issue(child, key_node.start_mark.line + 1, f"duplicate key {key!r}",
                               "remove one of the two; YAML would silently keep the last")
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, child)
            for value_node in merges:
                self.merge(out, value_node, path)
            return out
        return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]

    def merge(self, out: dict[str, Any], value_node: yaml.Node, path: Path_) -> None:
        """YAML merge (<<): keys written in the mapping win; of several merged mappings, the first wins. A merged
        key keeps the line where its fragment wrote it."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        if not all(isinstance(source, yaml.MappingNode) for source in sources):
            self.issue(path, value_node.start_mark.line + 1, "a merge key (<<) takes a mapping or a list of mappings",
                       "merge an anchored mapping: <<: *name")
            return
        for source in sources:
            own, self.lines = self.lines, {}
            try:
                merged = self.walk(source, path)
            finally:
                taken, self.lines = self.lines, own
            for key, value in (merged or {}).items():
                if key in out:
                    continue
                out[key] = value
                child = (*path, key)
                self.lines.update((where, line) for where, line in taken.items() if where[: len(child)] == child)

    def scalar(self, node: yaml.Node, path: Path_) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.issue(path, node.start_mark.line + 1, "expected a scalar here")
            return None
        if node.tag == "tag:yaml.org,2002:str" and "$" in node.value and self.env is not None:
            try:
                text = interpolate(node.value, self.env, self.used)
            except KeyError as missing:
                self.issue(path, node.start_mark.line + 1, f"variable {missing.args[0]} is not set",
                           f"export {missing.args[0]}=..., or give a default: ${{{missing.args[0]}:-value}}")
                return node.value
            if node.style is None:
                # An unquoted value resolves its type after interpolation: ${RO:-true} is a bool.
                tag = _CONSTRUCTOR.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
                return self.construct(yaml.ScalarNode(tag, text, node.start_mark, node.end_mark), path)
            return text
        return self.construct(node, path)

    def construct(self, node: yaml.Node, path: Path_) -> Any:
        try:
            return _CONSTRUCTOR.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            # e.g. a bare `=` (the YAML "value" tag) or an impossible date such as 2024-13-45
            reason = getattr(exc, "problem", None) or str(exc)
            self.issue(path, node.start_mark.line + 1, f"cannot read this value: {reason}",
                       "quote the value to make it a plain string")
            return None


_CONSTRUCTOR = yaml.SafeLoader("")


def load_yaml(text: str, file: str, env: Mapping[str, str], *, merge_tags: bool = False) -> Located:
    """Parse one YAML document with a safe loader and size/expansion limits.

    `merge_tags` (matrix and profile files) reads `!override` and `!reset` on a key's value as `Tagged` markers for
    `extends` merging; any other tag that is not a standard YAML one is refused, with its line.

    Syntax errors and limits raise ConfigError at once; located problems (unset variables, duplicate keys) are
    returned in `issues` so that validation can report them together with everything else.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(ConfigIssue("", f"the file is larger than {MAX_BYTES} bytes", None, file))
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            ConfigIssue("", f"not valid YAML: {exc.problem or exc.context}",
                        "check the indentation and quoting near that line", file, line)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigIssue("", f"not valid YAML: {exc}", None, file)) from None
    if node is None:
        return Located({}, file, {(): 1})
    walker = _Walker(file, env, merge_tags=merge_tags)
    data = walker.walk(node, ())
    return Located(data, file, walker.lines, dict(walker.used), tuple(walker.issues))


def load_yaml_documents(text: str, file: str, env: Mapping[str, str] | None = None, *, merge_keys: bool = False,
                        loader: type[yaml.SafeLoader] = yaml.SafeLoader, merge_tags: bool = False
                        ) -> tuple[Located, ...]:
    """Every document of a multi-document YAML stream (as `helm template` prints one), each with its lines.

    Values are read verbatim unless `env` is given: a Kubernetes manifest or a Compose file has its own rules for
    `$`. An empty document (a lone `---`) is skipped; one that holds only a scalar is kept, for the caller to refuse.
    `merge_keys` accepts YAML merge keys (`<<: *fragment`, as Compose files use them); `loader` may resolve plain
    scalars differently (Compose reads YAML 1.2, where `22:22` is a string and `yes` is not a boolean).
    `merge_tags` reads `!override` and `!reset` as `Tagged` markers, as load_yaml does.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(ConfigIssue("", f"the file is larger than {MAX_BYTES} bytes", None, file))
    try:
        nodes = list(yaml.compose_all(text, Loader=loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            ConfigIssue("", f"not valid YAML: {exc.problem or exc.context}",
                        "check the indentation and quoting near that line", file, mark.line + 1 if mark else None)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigIssue("", f"not valid YAML: {exc}", None, file)) from None
    out: list[Located] = []
    seen = 0
    for node in nodes:
        if node is None:
            continue
        walker = _Walker(file, env, merge_keys, merge_tags)
        walker.nodes = seen  # the expansion limit counts the whole file
        data = walker.walk(node, ())
        seen = walker.nodes
        out.append(Located(data, file, walker.lines, dict(walker.used), tuple(walker.issues)))
    return tuple(out)
