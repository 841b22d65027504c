"""Baseline: the paths every program expects to be there and usable."""


def test_tmp_is_writable(host):
    result = host.run("f=/tmp/.porttest-probe-$$ && echo ok > $f && cat $f && rm -f $f")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_tmp_is_sticky_and_world_writable(host):
    assert host.file("/tmp").is_directory
    assert host.file("/tmp").mode & 0o1777 == 0o1777


def test_dev_null_is_a_character_device(host):
    assert host.run("test -c /dev/null").rc == 0
    assert host.run("echo x > /dev/null").rc == 0


def test_shell_is_present(host):
    assert host.exists("sh")
