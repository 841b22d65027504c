"""The demo app with its cache: the app's answers, and what it left in redis (through the `services` fixture)."""

import json

ITEM_MB = 48  # more than a cache with a 64 MB limit holds (maxmemory 32 MB), little for one without a limit

GET = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080%s', timeout=5).read().decode())"

# PUT ITEM_MB items of 1 MiB each, then DELETE them all; prints the first refusal as [index, status, error] or [].
FILL = """
import json, urllib.request as u
url, refused = 'http://127.0.0.1:8080/items/fill-%d', []
try:
    for i in range(ITEM_MB):
        try:
            u.urlopen(u.Request(url % i, data=b'x' * 1048576, method='PUT'), timeout=10)
        except u.HTTPError as e:
            refused = [i, e.code, json.loads(e.read()).get('error')]
            break
finally:
    for i in range(ITEM_MB):
        u.urlopen(u.Request(url % i, method='DELETE'), timeout=10)
print(json.dumps(refused))
""".replace("ITEM_MB", str(ITEM_MB))


def _get(host, path):
    return json.loads(host.check_output("python3 -c %s", GET % path))


def test_cache_is_reached_by_its_service_name(host):
    assert host.run("getent hosts cache").rc == 0


def test_health_reports_the_cache(host):
    assert _get(host, "/health") == {"status": "ok", "cache": "ok"}


def test_counter_counts_up(host):
    first = _get(host, "/count")["count"]
    assert _get(host, "/count")["count"] == first + 1


def test_counter_is_kept_in_the_cache(host, services):
    count = _get(host, "/count")["count"]
    assert services["cache"].host.check_output("redis-cli GET porttest-demo:count") == str(count)


def test_cache_holds_the_working_set(host):
    """48 MB of items: fine for a cache without a limit; a 64 MB cache (maxmemory 32 MB, noeviction) refuses."""
    refused = json.loads(host.check_output("python3 -c %s", FILL))
    assert refused == [], f"item {refused[0]} of {ITEM_MB} (1 MiB each) refused: {refused[1]} {refused[2]}"
