"""The demo API in each environment: the same behaviour where the descriptors keep it, and one hardening check."""

import json


def _get(host, path):
    code = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080%s', timeout=5).read().decode())"
    return json.loads(host.check_output("python3 -c %s", code % path))


def test_health_answers(host):
    assert _get(host, "/health") == {"status": "ok"}


def test_root_answers_with_its_environment(host):
    assert _get(host, "/")["service"] == "porttest-demo"


def test_runs_as_the_app_user(host):
    assert host.process.get(pid=1).user in ("app", "10001")


def test_scratch_space_is_writable(host):
    assert host.run("python3 -c 'import tempfile; tempfile.NamedTemporaryFile()'").rc == 0


def test_pod_ip_when_set_is_the_containers_address(host):
    ip = host.environment().get("POD_IP")
    if ip is not None:
        assert ip in host.check_output("hostname -I").split()


def test_no_service_account_token_is_mounted(host):
    # The API never talks to the Kubernetes API: a mounted token is only something to steal.
    assert not host.file("/var/run/secrets/kubernetes.io/serviceaccount/token").exists
