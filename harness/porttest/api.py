"""The public entry points: validate, plan, run, compare-free core; the CLI only calls these."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from porttest import __version__
from porttest.config import EngineSpec, Matrix, read_matrix
from porttest.config.descriptors import Translation
from porttest.config.models import ComposeSource, Environment, KubernetesSource
from porttest.config.plan import Plan, make_plan
from porttest.config.profile_diff import ProfileDiff
from porttest.errors import ConfigError, Interrupted, PorttestError, ResultsError, UsageError
from porttest.results import combine
from porttest.results.combine import Labelled
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, assemble, from_json
from porttest.results.redact import redact_result

if TYPE_CHECKING:  # validate, plan, merge and compare never load the engine layers
    from porttest.engine.image import ResolvedImage
    from porttest.engine.protocol import EngineHandle, Engines
    from porttest.run.context import ServiceImage
    from porttest.run.launcher import Launcher
    from porttest.run.progress import OnProgress


def validate(path: str | os.PathLike[str], check_files: bool | Sequence[str] = True) -> Matrix:
    """Read and validate a matrix file (ConfigError lists every problem with its YAML path and line).

    The engine files (TLS certificates and key, SSH known_hosts and identity) are checked too: of every environment,
    of the environments named in `check_files` (what `run -e` runs), or of none (False: `plan`, `clean`)."""
    return read_matrix(path, check_files=check_files if isinstance(check_files, bool) else tuple(check_files))


def plan(matrix: Matrix, only: Sequence[str] = ()) -> Plan:
    """The cells a run would execute."""
    return make_plan(matrix, only)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunOutcome:
    """A finished (or interrupted) run: the result, and the signal that stopped it, if any."""

    result: RunResult
    interrupted: Interrupted | None = None
    forced: bool = False

    @property
    def exit_code(self) -> int:
        return self.interrupted.exit_code if self.interrupted else self.result.exit_code


def run(matrix: Matrix, only: Sequence[str] = (), on_progress: OnProgress | None = None,
        keep_workdir: bool = False, build: bool = True, jobs: int | None = None,
        engines: Engines | None = None) -> RunOutcome:
    """Resolve the image once, run the environments in parallel (at most `jobs` at once; all when None), and return
    the verdict with its evidence. `engines` reaches the engines (default: the Docker SDK; tests pass a double)."""
    from porttest.run.launcher import Launcher, child_env
    from porttest.run.progress import guarded

    cells = make_plan(matrix, only)
    run_id = new_run_id()
    workdir = Path(tempfile.mkdtemp(prefix=f"porttest-{run_id}-"))
    launcher = Launcher(child_env(), workdir / "fork-server.log")
    # The pytest fork server imports pytest and the Docker SDK while this process imports its engine layers and
    # resolves the image: on a busy machine, the second core would otherwise idle through that.
    launcher.warm_up()
    try:
        return _run(matrix, cells, run_id, workdir, launcher, guarded(on_progress), keep_workdir, build, jobs,
                    engines)
    finally:
        launcher.close()
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(matrix: Matrix, cells: Plan, run_id: str, workdir: Path, launcher: Launcher, notify: OnProgress,
         keep_workdir: bool, build: bool, jobs: int | None, engines: Engines | None) -> RunOutcome:
    from porttest.run.cells import run_cells
    from porttest.run.context import RunContext
    from porttest.run.progress import Progress
    from porttest.run.tracker import Tracker

    engines = _docker_engines() if engines is None else engines

    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    began = time.monotonic()
    extra: dict[str, Any] = {"run_id": run_id, "porttest_version": __version__, "started_at": started_at,
                             "warnings": tuple(matrix.warnings())}
    ref = matrix.image.ref
    try:
        for name in cells.names:
            notify(Progress(name, "image", "resolving" if matrix.image.build is None else "building"))
        source = engines.connect(EngineSpec())
        try:
            image = engines.resolve_image(source, matrix.image, build)
        except BaseException:
            source.close()
            raise
    except PorttestError as exc:
        envs = {name: EnvironmentResult(name=name, status="error", error=exc.message, hint=exc.hint, phase="image")
                for name in cells.names}
        return RunOutcome(redact_result(assemble(ImageIdentity(ref=ref, id=None), envs, duration=_since(began),
                                                 **extra), matrix.secret_values))
    except Interrupted as early:
        envs = {name: _interrupted(name, early) for name in cells.names}
        return RunOutcome(assemble(ImageIdentity(ref=ref, id=None), envs, duration=_since(began),
                                   interrupted=True, **extra), early)

    identity = _identity(ref, image)
    if matrix.image.verify:
        from porttest.run.verify_hooks import run_hooks

        for name in cells.names:
            notify(Progress(name, "verify", f"{len(matrix.image.verify)} hook(s)"))
        try:
            checks = run_hooks(matrix.image.verify, {"ref": ref, "id": image.id, "digest": image.digest},
                               matrix.base_dir)
        except Interrupted as early:
            source.close()
            envs = {name: _interrupted(name, early) for name in cells.names}
            return RunOutcome(redact_result(assemble(identity, envs, duration=_since(began), interrupted=True,
                                                     **extra), matrix.secret_values), early)
        except BaseException:
            source.close()
            raise
        identity = identity.model_copy(update={"verify": checks})
        failed = next((c for c in checks if not c.passed), None)
        if failed is not None:
            source.close()
            why = f"exit {failed.exit_code}" if failed.exit_code is not None else failed.error
            envs = {name: EnvironmentResult(
                name=name, status="error", phase="verify",
                error=f"not run: image.verify hook {failed.name} failed ({why})",
                hint="the image did not pass the matrix's verify hooks; see image.verify in the results")
                for name in cells.names}
            return RunOutcome(redact_result(assemble(identity, envs, duration=_since(began), **extra),
                                            matrix.secret_values))

    tracker = Tracker(engines)
    try:
        try:
            services = _service_images(matrix, cells, engines, source, build, tracker.cancel)
        except Interrupted as early:  # while a service image builds: nothing started yet, and the results say so
            envs = {name: _interrupted(name, early) for name in cells.names}
            return RunOutcome(redact_result(assemble(identity, envs, duration=_since(began), interrupted=True,
                                                     **extra), matrix.secret_values), early)
        ctx = RunContext(run_id=run_id, image=image, engines=engines,
                         shipper=engines.shipper(source, image, tracker.cancel), launcher=launcher, workdir=workdir,
                         base_dir=matrix.base_dir, tracker=tracker, on_progress=notify, keep_workdir=keep_workdir,
                         service_images=services, service_reference=_service_reference(matrix, cells, services),
                         allow_different_services=matrix.allow_different_services)
        envs, signal_ = run_cells(cells, ctx, jobs)
    finally:
        source.close()
    for name in cells.names:
        if name not in envs:
            envs[name] = _interrupted(name, signal_) if signal_ else EnvironmentResult(
                name=name, status="error", error="the environment did not report", phase="unknown")
    result = assemble(identity, envs, duration=_since(began), interrupted=signal_ is not None, **extra)
    return RunOutcome(redact_result(result, matrix.secret_values), signal_, forced=tracker.force.is_set())


def _service_images(matrix: Matrix, cells: Plan, engines: Engines, source: EngineHandle, build: bool,
                    cancel: threading.Event) -> dict[str, ServiceImage]:
    """Every service image of the planned environments, resolved once on the local engine (built when asked), each
    with its shipper; one that cannot be resolved is kept as its error, for the environments that use it."""
    from porttest.run.context import ServiceImage, image_key

    out: dict[str, ServiceImage] = {}
    for name in cells.names:
        for spec in matrix.environments[name].services.values():
            key = image_key(spec)
            if key in out:
                continue
            try:
                resolved = engines.resolve_image(source, spec.image, build)
            except PorttestError as exc:
                out[key] = ServiceImage(error=exc)
                continue
            out[key] = ServiceImage(resolved, engines.shipper(source, resolved, cancel))
    return out


def _service_reference(matrix: Matrix, cells: Plan, images: Mapping[str, ServiceImage]) -> dict[str, tuple[str, str]]:
    """Each service's image ID in the first planned environment that has it (and could resolve it)."""
    from porttest.run.context import image_key

    out: dict[str, tuple[str, str]] = {}
    for name in cells.names:
        for service, spec in matrix.environments[name].services.items():
            found = images[image_key(spec)].image
            if found is not None and service not in out:
                out[service] = (name, found.id)
    return out


def _docker_engines() -> Engines:
    from porttest.engine.docker_engines import DockerEngines

    return DockerEngines()


def _identity(ref: str | None, image: ResolvedImage) -> ImageIdentity:
    return ImageIdentity(ref=ref, id=image.id, digest=image.digest, repo_digests=image.repo_digests,
                         architecture=image.architecture, os=image.os, size=image.size, layers=image.layers)


def _interrupted(name: str, signal_: Interrupted | None) -> EnvironmentResult:
    why = f"interrupted by {signal_.signal_name}" if signal_ else "interrupted"
    return EnvironmentResult(name=name, status="error", error=why, phase="interrupted")


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)


@dataclass(frozen=True)
class Leftover:
    """A porttest-labelled container (or network, or volume) found on an engine by `clean`."""

    environment: str
    engine: str
    id: str
    name: str
    run_id: str
    removed: bool
    kind: str = "container"


def clean(matrix: Matrix, dry_run: bool = False, on_error: Callable[[str], None] | None = None,
          older_than: float | None = None, engines: Engines | None = None) -> list[Leftover]:
    """Remove porttest-labelled containers, networks and volumes from every engine of the matrix; never anything
    unlabelled.

    Containers of a porttest run that is still alive on this machine are left alone, and with `older_than`
    (seconds) so are containers created more recently than that. `engines` as for run().
    """
    engines = _docker_engines() if engines is None else engines
    found: list[Leftover] = []
    seen_daemons: set[str] = set()
    for name, env in matrix.environments.items():
        try:
            engine = engines.connect(env.engine)
        except PorttestError as exc:
            if on_error:
                on_error(f"{name}: {exc.message}")
            continue
        try:
            if engine.endpoint in seen_daemons:
                continue
            seen_daemons.add(engine.endpoint)
            found.extend(_sweep(name, engines, engine, dry_run, older_than, on_error))
        finally:
            engine.close()
    return found


def _sweep(name: str, engines: Engines, engine: EngineHandle, dry_run: bool, older_than: float | None,
           on_error: Callable[[str], None] | None) -> list[Leftover]:
    import docker.errors
    import requests

    from porttest.engine import container as containers
    from porttest.engine.connect import short_reason

    found: list[Leftover] = []
    try:
        leftovers = engines.find_leftovers(engine)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        if on_error:
            on_error(f"{name}: cannot list containers on {engine.endpoint}: {short_reason(exc)}")
        return found
    now = datetime.now(UTC)
    for item in leftovers:
        labels = item.get("Labels") or {}
        if containers.owner_alive(labels):
            continue
        created = containers.created_at(labels)
        if older_than is not None and created is not None and (now - created).total_seconds() < older_than:
            continue
        kind = str(item.get("Kind") or "container")
        if not dry_run:
            try:
                if kind == "container":
                    engines.remove(engine, item["Id"])
                else:
                    engines.remove_leftover(engine, kind, item["Id"])
            except (docker.errors.DockerException, requests.RequestException) as exc:
                if on_error:
                    on_error(f"{name}: cannot remove {item['Id'][:12]}: {short_reason(exc)}")
                continue
        shown = (item.get("Names") or ["?"])[0].lstrip("/")
        found.append(Leftover(name, engine.endpoint, item["Id"] if kind != "container" else item["Id"][:12], shown,
                              labels.get(containers.LABEL_RUN, ""), not dry_run, kind))
    return found


def load_results(paths: Sequence[str | os.PathLike[str]]) -> list[Labelled]:
    """Read results files (schema porttest.results/1), each labelled by its file name."""
    inputs = []
    for raw in paths:
        path = Path(raw)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from None
        inputs.append(Labelled(path.stem, from_json(text, str(path))))
    return inputs


def merge(paths: Sequence[str | os.PathLike[str]]) -> RunResult:
    """One verdict from per-environment results of one matrix (CI fan-out)."""
    return combine.merge(load_results(paths))


def compare(paths: Sequence[str | os.PathLike[str]], allow_different_image: bool = False) -> RunResult:
    """A parity verdict across results recorded apart (the same image, unless allowed)."""
    return combine.compare(load_results(paths), allow_different_image=allow_different_image)


def import_profile(source: KubernetesSource | ComposeSource, env: Mapping[str, str] | None = None,
                   allow_privileged: bool = False) -> Translation:
    """The porttest profile a Kubernetes workload or a Compose service describes (`porttest profile import`)."""
    from porttest.config.descriptors.sources import translate_source

    return translate_source(source, env=os.environ if env is None else env, allow_privileged=allow_privileged)


def profile_diff(a: str, b: str, matrix: str | os.PathLike[str] = "matrix.yaml", env: Mapping[str, str] | None = None,
                 allow_privileged: bool = False, kubernetes: Mapping[str, Any] | None = None) -> ProfileDiff:
    """Two environments' effective settings side by side, differences first (`porttest profile diff A B`).

    A side is an environment of `matrix`, `kubernetes:FILE[#KIND/NAME[/CONTAINER]]`, `compose:FILE#SERVICE` or a
    profile file; descriptors and profiles go through the same `extends` and translation as in a matrix.
    `kubernetes` adds keys of a kubernetes extends entry (runtime_classes, secrets, config_maps, files, namespace)
    to every kubernetes side."""
    from porttest.config.profile_diff import effective_settings, parse_side, side_by_side

    env = os.environ if env is None else env
    loaded: list[Matrix] = []

    def environment(side: str) -> tuple[Environment, Matrix, list[str]]:
        entry: Any = parse_side(side)
        if entry is None:
            matrix_path = Path(matrix)
            if matrix_path.is_file():
                if not loaded:
                    loaded.append(read_matrix(matrix_path, env))
                found = loaded[0].environments.get(side)
                if found is not None:
                    own = [w for w in loaded[0].descriptor_warnings if w.startswith(f"{side}: ")]
                    return found, loaded[0], own
            if not Path(side).is_file():
                names = ", ".join(loaded[0].environments) if loaded else ""
                where = f"the environments of {matrix_path} are {names}" if names else f"no matrix at {matrix_path}"
                raise UsageError(f"{side!r} is not an environment of the matrix, a descriptor or a profile file",
                                 hint=f"{where}; write kubernetes:FILE[#KIND/NAME[/CONTAINER]], compose:FILE#SERVICE,"
                                      " a profile file, or --matrix FILE")
            entry = str(Path(side).absolute())
        else:
            key = "kubernetes" if "kubernetes" in entry else "compose"
            if not Path(entry[key]).is_file():
                raise UsageError(f"{side!r}: no such file: {entry[key]}", hint="check the path")
            entry[key] = str(Path(entry[key]).absolute())
            if key == "kubernetes":
                entry.update(kubernetes or {})
        found, made = _profile_environment(entry, env, allow_privileged)
        return found, made, [w.removeprefix("profile: ") for w in made.descriptor_warnings]

    (env_a, matrix_a, warn_a), (env_b, matrix_b, warn_b) = environment(a), environment(b)
    rows = side_by_side([effective_settings(env_a), effective_settings(env_b)])
    warnings = tuple(dict.fromkeys((*warn_a, *warn_b)))
    return ProfileDiff(a, b, tuple(rows), warnings, matrix_a.secret_values | matrix_b.secret_values)


def _profile_environment(entry: Any, env: Mapping[str, str], allow_privileged: bool) -> tuple[Environment, Matrix]:
    """One environment that only extends `entry`, through the matrix loader (the same extends and translation)."""
    import yaml

    from porttest.config.loader import parse_matrix

    text = yaml.safe_dump({"version": 1, "image": "porttest/profile-diff", "suites": ["."],
                           "allow_privileged": allow_privileged, "environments": {"profile": {"extends": [entry]}}})
    try:
        matrix = parse_matrix(text, Path.cwd() / "porttest-profile-diff.yaml", env)
    except ConfigError as exc:  # the descriptor's or the profile's problems, located in their own files
        exc.message = exc.message.replace("invalid matrix", "invalid profile", 1)
        raise
    return matrix.environments["profile"], matrix
