"""A pod's IP (`fieldRef: status.podIP`) on the real engine: the variable and $(POD_IP) in args hold the address the
container really has, on a network of the environment's own that goes with the container."""

from __future__ import annotations

from pathlib import Path

import docker

from tests.integration.conftest import LABEL, porttest, write

POD = """
    apiVersion: v1
    kind: Pod
    metadata:
      name: api
    spec:
      containers:
        - name: api
          image: registry.example.com/shop/api:2
          command: ["/bin/sh", "-c"]
          args: ["echo $(POD_IP) > /tmp/advertised; exec sleep 3600"]
          env:
            - name: POD_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
"""

SUITE = """
    def _address(host):
        # busybox: "2: eth0    inet 172.18.0.2/16 scope global eth0" -> 172.18.0.2
        return host.check_output("ip -4 -o addr show eth0").split()[3].split("/")[0]

    def test_pod_ip_is_the_containers_own_address(host, environment):
        if environment.name == "pod":
            assert host.environment()["POD_IP"] == _address(host)
            assert host.file("/tmp/advertised").content_string.strip() == _address(host)
        else:
            assert "POD_IP" not in host.environment()
"""


def test_the_pod_ip_is_the_address_the_container_has(tmp_path: Path, engine: docker.DockerClient,
                                                     base_images: dict[str, str]) -> None:
    write(tmp_path, "pod.yaml", POD)
    write(tmp_path, "tests/test_ip.py", SUITE)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          local: {{run: {{command: [sleep, "3600"]}}}}
          pod: {{extends: {{kubernetes: pod.yaml}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    (row,) = ran.results["tests"]
    assert row["outcomes"] == {"local": "passed", "pod": "passed"}
    run_id = ran.results["run_id"]
    assert not engine.networks.list(filters={"label": f"{LABEL}={run_id}"})  # gone with the container
