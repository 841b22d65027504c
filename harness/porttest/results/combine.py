"""PURE: join results recorded separately — `merge` (one run split by environment) and `compare` (runs made apart)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from porttest.errors import ResultsError
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, assemble


@dataclass(frozen=True)
class Labelled:
    """One results file and the label that names it in messages (its file name)."""

    label: str
    result: RunResult


def _image(inputs: Sequence[Labelled], allow_different_image: bool) -> tuple[ImageIdentity, list[str]]:
    ids = {item.label: item.result.image.id for item in inputs}
    distinct = {i for i in ids.values() if i}
    warnings: list[str] = []
    if len(distinct) > 1:
        listing = ", ".join(f"{label}: {(image_id or 'none')[:19]}" for label, image_id in ids.items())
        if not allow_different_image:
            raise ResultsError(f"the results are of different images ({listing})",
                               hint="compare runs of the very same image ID, or pass --allow-different-image")
        warnings.append(f"the results are of DIFFERENT images ({listing})")
    first = next((item.result.image for item in inputs if item.result.image.id), inputs[0].result.image)
    return first, warnings


def combine(inputs: Sequence[Labelled], *, rename_collisions: bool, allow_different_image: bool) -> RunResult:
    """One RunResult whose environments are all the inputs' environments, with rows and verdict recomputed."""
    if not inputs:
        raise ResultsError("no results to combine")
    labels: dict[str, int] = {}
    unique = []
    for item in inputs:  # the same file name twice still gives distinct environment names
        labels[item.label] = labels.get(item.label, 0) + 1
        label = item.label if labels[item.label] == 1 else f"{item.label}-{labels[item.label]}"
        unique.append(Labelled(label, item.result))
    inputs = unique
    image, warnings = _image(inputs, allow_different_image)
    seen: dict[str, str] = {}
    collide = False
    for item in inputs:
        for name in item.result.environments:
            if name in seen:
                if not rename_collisions:
                    raise ResultsError(f"environment {name!r} is in both {seen[name]} and {item.label}",
                                       hint="merge joins one run split by environment; use `porttest compare` "
                                            "for runs made apart")
                collide = True
            seen.setdefault(name, item.label)
    envs: dict[str, EnvironmentResult] = {}
    for item in inputs:
        for name, env in item.result.environments.items():
            key = f"{item.label}:{name}" if collide else name
            envs[key] = env.model_copy(update={"name": key})
    for item in inputs:
        warnings.extend(item.result.warnings)
    started = sorted(i.result.started_at for i in inputs if i.result.started_at)
    return assemble(
        image, envs,
        run_id="+".join(dict.fromkeys(i.result.run_id for i in inputs if i.result.run_id)) or None,
        porttest_version=inputs[0].result.porttest_version,
        started_at=started[0] if started else None,
        duration=max(i.result.duration for i in inputs),
        interrupted=any(i.result.interrupted for i in inputs),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def merge(inputs: Sequence[Labelled]) -> RunResult:
    """Per-environment results of one matrix (e.g. GitHub fan-out jobs): names must not repeat; same image only."""
    return combine(inputs, rename_collisions=False, allow_different_image=False)


def compare(inputs: Sequence[Labelled], allow_different_image: bool = False) -> RunResult:
    """Results recorded apart (CI today, staging tomorrow); repeated names become `file:environment`."""
    return combine(inputs, rename_collisions=True, allow_different_image=allow_different_image)
