"""testinfra's `host.process` for a shell-less image, whose commands run with porttest's busybox toolbox."""

from __future__ import annotations

from typing import Any

from testinfra.modules.process import BusyboxProcess, int_or_float


class ToolboxProcess(BusyboxProcess):  # type: ignore[misc]  # testinfra ships no type information
    """testinfra's busybox flavour without the `time` column, which Debian's busybox-static `ps` does not have
    (testinfra asks for it and gets `ps: bad -o argument 'time'`). The start time is not known (`lstart` is empty),
    so an attribute read later is not checked against a restarted process of the same PID."""

    def _get_processes(self, **filters: Any) -> list[dict[str, Any]]:
        # "args" holds spaces: it goes last and takes the rest of the line.
        attributes = [*sorted(({"pid", "comm"} | set(filters)) - {"args"}), "args"]
        procs = []
        for line in self.check_output("ps -A -o %s", ",".join(attributes)).splitlines()[1:]:
            fields = line.split(None, len(attributes) - 1)
            attrs: dict[str, Any] = {key: int_or_float(value) for key, value in zip(attributes, fields, strict=False)}
            attrs.setdefault("args", "")
            attrs["lstart"] = ""
            procs.append(attrs)
        return procs

    def _get_process_attribute_by_pid(self, pid: int, name: str) -> dict[str, Any]:
        for line in self.check_output("ps -A -o pid,%s", name).splitlines()[1:]:
            fields = line.split(None, 1)
            if fields and fields[0] == str(pid):
                return {"lstart": "", name: int_or_float(fields[1]) if len(fields) > 1 else ""}
        raise RuntimeError(f"Process with pid {pid} does not exist anymore")


def process_module(host: Any) -> Any:
    """The `process` module bound to `host`, as testinfra's module cache holds one."""
    return type(ToolboxProcess.__name__, (ToolboxProcess,), {"_host": host})()
