"""What the parent tells a pytest child: which engine, which container, and where to write records."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ChildSpec:
    """Serialized to a JSON file whose path the child gets as --porttest-child."""

    environment: str
    engine: dict[str, Any]
    container_id: str
    container_name: str
    image_id: str
    profile: dict[str, Any]
    records: str
    run_id: str

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> ChildSpec:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
