"""The facades ``import`` gives protected code, run in a real sandbox process, and the
allow-list syntax that grants them."""

from __future__ import annotations

import hashlib
import hmac
import textwrap

import pytest

from connector.errors import CodeError, ConfigurationError
from tests.runtime.product import FakeApi
from worker.runtime import check_code
from worker.runtime.facades import parse
from worker.runtime.isolation import Limits
from worker.runtime.pool import SandboxPool

LIMITS = Limits(cpu_seconds=5, memory_mb=300, wall_seconds=20)
DEFAULT = ("requests", "xmlrpc.client", "hashlib", "hmac", "base64", "re", "math")


@pytest.fixture(scope="module")
def pool():
    pool = SandboxPool(max_size=1, max_jobs=100)
    try:
        yield pool
    finally:
        pool.close()


def run(pool, protected: str, body: str, allowlist=DEFAULT, **kwargs):
    task = "def handle_cron():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return pool.run(connection=None, limits=LIMITS, protected_code=textwrap.dedent(protected),
                    task_code=task, handler="handle_cron", allowlist=allowlist, **kwargs)


def test_seed_patterns_of_protected_code_keep_working(pool):
    api = FakeApi()
    try:
        result = run(pool, f"""
            import requests as _requests
            import hashlib, hmac, base64, re, json
            from requests.exceptions import HTTPError

            def post(data):
                r = _requests.post({api.url!r} + "/x", json=data, timeout=5)
                return r.status_code, r.json(), r.text, r.headers["CONTENT-TYPE"]

            def failing():
                try:
                    _requests.get({api.url!r} + "/fail", timeout=5).raise_for_status()
                except HTTPError as e:
                    return e.response.status_code

            def sign(text):
                mac = hmac.new(b"k", text.encode(), hashlib.sha256).hexdigest()
                return (mac[:8], base64.b64encode(b"ab"), re.sub("a+", "b", "caat"),
                        json.dumps({{"a": 1}}), hmac.compare_digest("a", "a"))
            """, "return post({'a': 1}), failing(), sign('x')")
    finally:
        api.close()
    assert result == ((200, {"ok": True, "path": "/x"}, '{"ok": true, "path": "/x"}',
                       "application/json"), 500,
                      (hmac.new(b"k", b"x", hashlib.sha256).hexdigest()[:8], b"YWI=", "cbt",
                       '{"a": 1}', True))


def test_requests_facade_refuses_hooks_and_certificate_files(pool):
    result = run(pool, """
        import requests as _requests

        def attempt(**kwargs):
            try:
                _requests.get("http://127.0.0.1:9/", **kwargs)
            except TypeError as e:
                return str(e)
        """, "return attempt(hooks={}), attempt(verify='/etc/passwd'), attempt(stream=True)")
    assert "does not take 'hooks'" in result[0]
    assert "verify= takes True or False" in result[1]
    assert "does not take 'stream'" in result[2]


def test_allowlist_grants_names_only(pool):
    assert run(pool, "from hashlib import sha256 as _sha\ndef h():\n    return _sha(b'a')"
               ".hexdigest()[:6]\n", "return h()", allowlist=("hashlib:sha256",)) == "ca9781"
    with pytest.raises(CodeError, match=r"hashlib.md5 is not in the import allow-list") as info:
        check_code("import json\nfrom hashlib import md5\n", "protected",
                   allowlist=("hashlib:sha256",))
    assert (info.value.lineno, info.value.col) == (2, 1)


def test_save_time_check_names_the_fix():
    with pytest.raises(CodeError, match="requests.utils is not in the import allow-list"):
        check_code("from requests import utils\n", "protected", allowlist=DEFAULT)
    with pytest.raises(CodeError, match=r"'requests.adapters' is not in the import allow-list"):
        check_code("import requests.adapters\n", "protected", allowlist=DEFAULT)
    with pytest.raises(CodeError, match=r"zlib:NAME1\|NAME2"):
        check_code("import zlib\n", "protected", allowlist=("zlib",))
    check_code("import zlib\nfrom zlib import compress\n", "protected",
               allowlist=("zlib:compress|decompress",))


def test_allowlist_syntax():
    assert parse(["requests", "hashlib:sha256|md5", "hashlib:sha1", " "]) == {
        "requests": None, "hashlib": frozenset({"sha256", "md5", "sha1"})}
    assert parse(["re:sub", "re"]) == {"re": None}
    for bad in ("re:", "a b", "x:1y"):
        with pytest.raises(ConfigurationError, match="SYNCSTUDIO_IMPORT_ALLOWLIST"):
            parse([bad])
