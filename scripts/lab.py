"""Start or stop a local lab engine: a second dockerd over mutual TLS on 127.0.0.1 (needs root).

    python scripts/lab.py start --env-file lab.env   # writes PORTTEST_CLOUD_* variables for environments/cloud.yaml
    python scripts/lab.py stop --env-file lab.env    # stops that dockerd by its PID and removes its bridge and data
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.lab.tls_engine import TLSEngine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--env-file", type=Path, required=True)
    args = parser.parse_args()
    if args.action == "start":
        lab = TLSEngine()
        lab.start()
        values = {**lab.env(), "PORTTEST_LAB_PID": str(lab.proc.pid if lab.proc else ""),
                  "PORTTEST_LAB_DIR": str(lab.dir), "PORTTEST_LAB_BRIDGE": lab.bridge}
        args.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        print(f"lab engine up at {lab.host} (pid {values['PORTTEST_LAB_PID']}); variables in {args.env_file}")
        # The daemon outlives this process on purpose; `stop` ends it by the PID recorded above.
        os._exit(0)
    values = dict(line.split("=", 1) for line in args.env_file.read_text().splitlines() if "=" in line)
    pid = int(values.get("PORTTEST_LAB_PID") or 0)
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    bridge = values.get("PORTTEST_LAB_BRIDGE")
    if bridge:
        subprocess.run(["ip", "link", "del", bridge], stderr=subprocess.DEVNULL)
    lab_dir = values.get("PORTTEST_LAB_DIR")
    if lab_dir:
        mounts = [ln.split()[1] for ln in Path("/proc/self/mounts").read_text().splitlines()
                  if ln.split()[1].startswith(lab_dir)]
        for target in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", target], stderr=subprocess.DEVNULL)
        shutil.rmtree(lab_dir, ignore_errors=True)
    print("lab engine stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
