"""Without paramiko (the `porttest[ssh]` extra): porttest imports and validates, and an ssh:// engine is a clear error.

Each test runs a fresh interpreter in which `import paramiko` is blocked before anything imports the Docker SDK
(`sys.modules["paramiko"] = None`): the import then fails with ModuleNotFoundError(name="paramiko"), as where paramiko
is not installed, and the SDK's docker.transport leaves its SSH adapter out, as it does there. The real thing, a
virtualenv without paramiko, is tests/integration/cli/test_no_paramiko.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NO_PARAMIKO = "import sys\nsys.modules['paramiko'] = None\n"
SSH_HOST = "ssh://someone@127.0.0.1:1"


def _python(script: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", NO_PARAMIKO + textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env={"PYTHONPATH": str(REPO / "harness"), "NO_COLOR": "1",
                                                              "PATH": "/usr/bin:/bin"})


def test_the_simulation_is_what_a_missing_paramiko_looks_like() -> None:
    ran = _python("""
        import docker.transport
        print('SSHHTTPAdapter' in vars(docker.transport))
        try:
            import paramiko
        except ModuleNotFoundError as exc:
            print(exc.name)
        """)
    assert ran.stdout.split() == ["False", "paramiko"], ran.stderr


def test_every_module_of_porttest_imports_without_paramiko() -> None:
    ran = _python("""
        import pkgutil, porttest
        names = [m.name for m in pkgutil.walk_packages(porttest.__path__, 'porttest.')
                 if m.name != 'porttest.__main__']  # that one runs the CLI
        for name in names:
            __import__(name)
        print(len(names), 'paramiko' in sys.modules and sys.modules['paramiko'] is not None)
        """)
    assert ran.returncode == 0, ran.stderr
    count, loaded = ran.stdout.split()
    assert int(count) > 30 and loaded == "False"


def test_an_ssh_engine_says_how_to_install_paramiko_when_connecting_and_reconnecting() -> None:
    ran = _python(f"""
        import json
        from porttest.config import EngineSpec
        from porttest.engine import connect as engines
        from porttest.errors import EXIT_ENVIRONMENT, EngineError
        seen = []
        for attempt in (lambda: engines.connect(EngineSpec(host={SSH_HOST!r}), timeout=1),  # the parent
                        lambda: engines.reopen({{'host': {SSH_HOST!r}, 'api_version': '1.41'}}, timeout=1)):  # a child
            try:
                attempt()
            except EngineError as exc:
                seen.append([exc.message, exc.hint, exc.exit_code == EXIT_ENVIRONMENT])
        print(json.dumps(seen))
        """)
    assert ran.returncode == 0, ran.stderr
    errors = json.loads(ran.stdout)
    assert len(errors) == 2
    for message, hint, environment_error in errors:
        assert "paramiko, which is not installed" in message
        assert "pip install 'porttest[ssh]'" in hint and "pipx inject porttest paramiko" in hint
        assert environment_error


def test_validate_accepts_a_matrix_with_an_ssh_engine_without_paramiko(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_x.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "matrix.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        image: porttest-base/busybox:latest
        suites: [suite]
        environments:
          local: {{}}
          remote:
            engine: {{host: "{SSH_HOST}"}}
        """))
    ran = _python("""
        from porttest.cli.main import main
        raise SystemExit(main(['validate', 'matrix.yaml']))
        """, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 environments" in ran.stdout and "Traceback" not in ran.stderr
