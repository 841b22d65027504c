"""Read the descriptor that an `extends:` entry names, and translate it with the translator for its kind."""

from __future__ import annotations

from collections.abc import Mapping

from porttest.config.descriptors import Translation
from porttest.config.models import ComposeSource, KubernetesSource
from porttest.config.yaml_source import load_yaml_documents
from porttest.errors import ConfigError, ConfigIssue


def _read(path: str, what: str) -> str:
    try:
        return open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else str(exc)
        raise ConfigError(ConfigIssue("", f"cannot read {what} {path}: {reason}",
                                      "paths in extends are relative to the file that names them", path)) from None


def translate_source(source: KubernetesSource | ComposeSource, *, env: Mapping[str, str],
                     allow_privileged: bool) -> Translation:
    """The profile a Kubernetes workload or a Compose service describes; ConfigError (located in the descriptor)
    when the descriptor cannot be read or translated."""
    if isinstance(source, KubernetesSource):
        from porttest.config.descriptors import kubernetes

        file = str(source.kubernetes)
        docs = load_yaml_documents(_read(file, "Kubernetes manifest"), file)
        return kubernetes.translate(
            docs, workload=source.workload, container=source.container, namespace=source.namespace,
            runtime_classes=source.runtime_classes, secrets=source.secrets, config_maps=source.config_maps,
            files={name: str(path) for name, path in source.files.items()}, allow_privileged=allow_privileged)
    from porttest.config.descriptors import compose

    project = source.compose.parent
    return compose.translate(compose.load_compose(source.compose), service=source.service,
                             env=compose.compose_environment(project, env), project_dir=project,
                             allow_privileged=allow_privileged)
