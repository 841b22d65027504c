"""What every cell (environment) of a run shares: the run, the image, the engines, the launcher, the files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from porttest.engine.protocol import Engines, Shipping
from porttest.run.launcher import Launcher
from porttest.run.progress import OnProgress
from porttest.run.tracker import Tracker

if TYPE_CHECKING:
    from porttest.engine.image import ResolvedImage


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
