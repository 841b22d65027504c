"""The demo service: it answers, and it runs the way a hardened platform expects."""

import json

GET = "python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' %s"


def test_health_endpoint_answers(host):
    body = json.loads(host.check_output(GET, "http://127.0.0.1:8080/health"))
    assert body == {"status": "ok"}


def test_root_endpoint_names_the_service(host):
    body = json.loads(host.check_output(GET, "http://127.0.0.1:8080/"))
    assert body["service"] == "porttest-demo"


def test_service_does_not_run_as_root(host):
    assert host.check_output("id -u") != "0"


def test_app_code_is_not_writable_by_the_service(host):
    assert host.run("test -w /app/server.py").rc != 0


def test_python_is_available(host):
    assert host.run("python3 --version").rc == 0
