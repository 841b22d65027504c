"""What every cell (environment) of a run shares: the run, the image, the engines, the launcher, the files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from porttest.config import ServiceSpec
from porttest.engine.protocol import Engines, Shipping
from porttest.errors import PorttestError
from porttest.run.launcher import Launcher
from porttest.run.progress import OnProgress
from porttest.run.tracker import Tracker

if TYPE_CHECKING:
    from porttest.engine.image import ResolvedImage


def image_key(spec: ServiceSpec) -> str:
    """Services that name the same image (ref, build, digest) share one resolved image and one shipper."""
    return spec.image.model_dump_json()


@dataclass(frozen=True)
class ServiceImage:
    """A service's image, resolved once on the local engine (or why it could not be), and what ships it."""

    image: ResolvedImage | None = None
    shipper: Shipping | None = None
    error: PorttestError | None = None


@dataclass(frozen=True)
class RunContext:
    """What every cell shares: the run, the image, the engines and how to ship to them, and where to put files."""

    run_id: str
    image: ResolvedImage
    engines: Engines
    shipper: Shipping
    launcher: Launcher
    workdir: Path
    base_dir: Path
    tracker: Tracker
    on_progress: OnProgress
    keep_workdir: bool = False
    service_images: Mapping[str, ServiceImage] = field(default_factory=dict)  # by image_key()
    # Service name -> (environment, image ID) of the first planned environment that has it: the others must match.
    service_reference: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    allow_different_services: bool = False
