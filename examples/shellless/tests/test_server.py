"""The shell-less demo image: one static server program (/httpd), its page, and no shell of its own."""

PAGE = "/www/index.html"


def test_the_image_has_no_shell(host):
    assert not host.file("/bin/sh").exists


def test_the_server_is_the_only_program_running(host, environment):
    server = host.process.get(comm="httpd")
    assert server.pid == 1
    assert server.args == "/httpd -f -p 8080 -h /www"
    assert server.user == ("root" if environment.name == "local" else "nobody")


def test_it_listens_on_8080(host):
    assert host.socket("tcp://8080").is_listening


def test_the_page_is_the_image_own(host):
    page = host.file(PAGE)
    assert page.is_file and page.user == "root" and page.mode == 0o644
    assert "served by a shell-less image" in page.content_string


def test_it_serves_the_page(host):
    assert host.check_output("wget -q -O - http://127.0.0.1:8080/") == host.file(PAGE).content_string.rstrip("\n")


def test_the_user_comes_from_the_image_passwd(host):
    user = host.user()
    assert user.name in ("root", "nobody")
    assert user.home == ("/root" if user.name == "root" else "/nonexistent")
