"""URL and environment parsing: every form, every refusal, and no secret in any message."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import cacheops
from cacheops.admin import analytics_api
from cacheops.config import (
    CacheConfig,
    Server,
    coerce_options,
    from_environment,
    parse_url,
    require_environment,
)
from cacheops.errors import ConfigurationError, NotSupported

SECRET = "pa:ss/w@rd#?%"


def test_memory_forms() -> None:
    assert parse_url("memory://") == CacheConfig("memory")
    named = parse_url("memory://sessions?max_items=10")
    assert (named.name, dict(named.options)) == ("sessions", {"max_items": "10"})


def test_memcached_cluster_with_default_ports_and_ipv6() -> None:
    config = parse_url("memcached://h1:11311,h2,[::1]:11400")
    assert config.servers == (Server("h1", 11311), Server("h2", 11211), Server("::1", 11400))
    assert str(config.servers[2]) == "[::1]:11400"


def test_memcachier_percent_encoded_credentials() -> None:
    from urllib.parse import quote

    url = f"memcachier://us%40er:{quote(SECRET, safe='')}@mc1.example.com:11211,mc2.example.com"
    config = parse_url(url)
    assert (config.username, config.password) == ("us@er", SECRET)
    assert SECRET not in repr(config)
    assert "***" in config.redacted_url()


def test_ironcache_url() -> None:
    config = parse_url("ironcache://proj:tok@cache-aws-us-east-1.iron.io/my%20cache?timeout=3")
    assert config.servers == (Server("cache-aws-us-east-1.iron.io", 443),)
    assert (config.username, config.password, config.name) == ("proj", "tok", "my cache")
    assert "tok" not in repr(config)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost", "unknown scheme 'redis'"),
        ("localhost:11211", "not a cache URL"),
        ("memcached://", "needs at least one host"),
        ("memcached://h:99999", "port that is not 1-65535"),
        ("memcached://h:abc", "port that is not 1-65535"),
        ("memcached://[::1", "malformed IPv6"),
        ("memcachier://h1", "USERNAME:PASSWORD@"),
        (f"memcached://u:{SECRET}@h", "reserved character"),
        ("memcached://u:hunter2@h", "use memcachier://"),
        ("ironcache://p:t@host", "cache name"),
        ("ironcache://host/c", "PROJECT_ID:TOKEN@"),
        ("memory://u:hunter2@x", "no credentials"),
    ],
)
def test_bad_urls_name_the_problem_and_never_the_secret(url: str, message: str) -> None:
    with pytest.raises(cacheops.ConfigurationError, match=message) as info:
        cacheops.connect(url)
    for secret in ("hunter2", "w@rd", "ss/w"):
        assert secret not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_known_scheme_without_a_backend_yet_says_so() -> None:
    from cacheops.backends import REGISTRY

    missing = [scheme for scheme, target in REGISTRY.items() if target is None]
    for scheme in missing:
        url = {"memcached": "memcached://h", "memcachier": "memcachier://u:p@h"}.get(
            scheme, f"{scheme}://p:t@h/c"
        )
        with pytest.raises(cacheops.ConfigurationError, match="not available"):
            cacheops.connect(url)


def test_query_options_are_typed_and_checked() -> None:
    backend = cacheops.connect("memory://?key_prefix=app:&on_error=miss&max_items=5")
    assert (backend.key_prefix, backend.on_error) == ("app:", "miss")
    with pytest.raises(cacheops.ConfigurationError, match="unknown option 'colour'"):
        cacheops.connect("memory://?colour=blue")
    with pytest.raises(cacheops.ConfigurationError, match="must be one of"):
        cacheops.connect("memory://?on_error=ignore")
    with pytest.raises(cacheops.ConfigurationError, match="must be a number"):
        cacheops.connect("memory://?max_items=lots")


def test_keyword_options_override_the_query() -> None:
    backend = cacheops.connect("memory://?key_prefix=url:", key_prefix="kw:")
    assert backend.key_prefix == "kw:"


def _takes_numeric_secret(*, secret: int) -> None: ...


def test_a_secret_option_value_is_never_echoed() -> None:
    with pytest.raises(cacheops.ConfigurationError, match=r"secret=\*\*\*") as info:
        coerce_options(_takes_numeric_secret, {"secret": "hunter2"})
    assert "hunter2" not in str(info.value)


def test_environment_order(tmp_path: Path) -> None:
    env = {
        "CACHEOPS_URL": "memory://from-url",
        "MEMCACHIER_SERVERS": "mc.example.com",
        "MEMCACHIER_USERNAME": "u",
        "MEMCACHIER_PASSWORD": "p",
        "IRON_TOKEN": "t",
        "IRON_PROJECT_ID": "p",
    }
    assert from_environment(env, cwd=tmp_path, home=tmp_path).name == "from-url"  # type: ignore[union-attr]
    del env["CACHEOPS_URL"]
    config = from_environment(env, cwd=tmp_path, home=tmp_path)
    assert config is not None and config.scheme == "memcachier"
    assert config.servers == (Server("mc.example.com", 11211),)
    del env["MEMCACHIER_SERVERS"]
    config = from_environment(env, cwd=tmp_path, home=tmp_path)
    assert config is not None and config.scheme == "ironcache"
    assert from_environment({}, cwd=tmp_path, home=tmp_path) is None


def test_memcachier_servers_without_credentials_is_plain_memcached(tmp_path: Path) -> None:
    config = from_environment({"MEMCACHIER_SERVERS": "a:1,b:2"}, cwd=tmp_path, home=tmp_path)
    assert config is not None and config.scheme == "memcached"
    assert [str(s) for s in config.servers] == ["a:1", "b:2"]


def test_iron_settings_follow_the_official_client_precedence(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    (home / ".iron.json").write_text(
        json.dumps({"token": "home-token", "project_id": "home-project", "host": "home-host"})
    )
    config = from_environment({}, cwd=cwd, home=home)
    assert config is not None
    assert (config.username, config.password, config.servers[0].host) == (
        "home-project",
        "home-token",
        "home-host",
    )
    env = {"IRON_TOKEN": "env-token", "IRON_CACHE_TOKEN": "cache-env-token"}
    config = from_environment(env, cwd=cwd, home=home)
    assert config is not None and config.password == "cache-env-token"
    (cwd / "iron.json").write_text(
        json.dumps({"project_id": "top", "iron_cache": {"project_id": "cwd-project"}})
    )
    config = from_environment({**env, "IRON_CACHE_NAME": "sessions"}, cwd=cwd, home=home)
    assert config is not None
    assert (config.username, config.password, config.name) == (
        "cwd-project",
        "cache-env-token",
        "sessions",
    )
    assert config.name == "sessions"
    assert "cache-env-token" not in repr(config)


def test_iron_http_protocol_maps_to_the_plain_scheme(tmp_path: Path) -> None:
    env = {
        "IRON_TOKEN": "t",
        "IRON_PROJECT_ID": "p",
        "IRON_PROTOCOL": "http",
        "IRON_HOST": "127.0.0.1",
        "IRON_PORT": "8080",
    }
    config = from_environment(env, cwd=tmp_path, home=tmp_path)
    assert config is not None and config.scheme == "ironcache+http"
    assert config.servers == (Server("127.0.0.1", 8080),)


def test_no_configuration_falls_back_to_memory_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("CACHEOPS_URL", "MEMCACHIER_SERVERS", "IRON_TOKEN", "IRON_CACHE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="cacheops"):
        backend = cacheops.connect()
    assert backend.scheme == "memory"
    assert "in-process memory://" in caplog.text


def test_connect_reads_cacheops_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEOPS_URL", "memory://env-named")
    assert cacheops.connect().location == "memory://env-named"
    monkeypatch.setenv("CACHEOPS_URL", "bogus://x")
    with pytest.raises(cacheops.ConfigurationError, match="CACHEOPS_URL: unknown scheme"):
        cacheops.connect()


# -- hardening: ambiguous passwords, half configurations, the ops commands' resolution -------


@pytest.mark.parametrize(
    "url",
    [
        "memcachier://user:p@ss/word@mc.example.com:11211",
        "memcachier://user:p@ss?word@mc.example.com",
        "ironcache://project:t@ok/en@iron.example.com/cache",
    ],
)
def test_an_unencoded_at_then_slash_in_the_password_is_refused(url: str) -> None:
    """Without the check, "ss" became the host: looked up in DNS and shown in errors."""
    with pytest.raises(cacheops.ConfigurationError) as info:
        parse_url(url, source="CACHEOPS_URL")
    message = str(info.value)
    assert "percent-encode" in message.lower() and "%40" in message and "%2F" in message
    for fragment in ("p@ss", "ss/word", "ss?word", "t@ok", "ok/en"):
        assert fragment not in message
    with pytest.raises(cacheops.ConfigurationError):
        cacheops.connect(url)


def test_several_at_signs_without_a_slash_still_split_at_the_last() -> None:
    config = parse_url("memcachier://user:p@ss@mc.example.com")
    assert (config.password, config.servers) == ("p@ss", (Server("mc.example.com", 11211),))


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"MEMCACHIER_USERNAME": "u"}, "MEMCACHIER_PASSWORD"),
        ({"MEMCACHIER_PASSWORD": "hunter2"}, "MEMCACHIER_USERNAME"),
        ({"MEMCACHIER_USERNAME": "u", "MEMCACHIER_PASSWORD": ""}, "MEMCACHIER_PASSWORD"),
    ],
)
def test_memcachier_servers_with_half_a_login_is_refused(
    tmp_path: Path, env: dict[str, str], missing: str
) -> None:
    environ = {"MEMCACHIER_SERVERS": "mc.example.com", **env}
    with pytest.raises(cacheops.ConfigurationError, match=f"{missing} is not") as info:
        from_environment(environ, cwd=tmp_path, home=tmp_path)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "hint"),
    [
        ({}, None),
        ({"MEMCACHIER_SERVER": "mc.example.com"}, "did you mean MEMCACHIER_SERVERS?"),
        ({"IRON_TOKEN": "t"}, "IRON_TOKEN is set but IRON_PROJECT_ID is not"),
        ({"IRON_PROJECT_ID": "p"}, "IRON_PROJECT_ID is set but IRON_TOKEN is not"),
        ({"CACHEOPS_URL": ""}, "CACHEOPS_URL is set but empty"),
        ({"MEMCACHIER_USERNAME": "u"}, "MEMCACHIER_SERVERS is not"),
    ],
)
def test_require_environment_names_what_it_looked_for(
    tmp_path: Path, env: dict[str, str], hint: str | None
) -> None:
    with pytest.raises(cacheops.ConfigurationError) as info:
        require_environment(env, cwd=tmp_path, home=tmp_path)
    message = str(info.value)
    assert message.startswith("no cache configured: looked for CACHEOPS_URL, MEMCACHIER_SERVERS")
    assert "IRON_TOKEN" in message and "iron.json" in message
    if hint is not None:
        assert hint in message
    found = require_environment({"CACHEOPS_URL": "memory://x"}, cwd=tmp_path, home=tmp_path)
    assert found.name == "x"


def test_memcachier_api_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "memcachier://user:pass@mc.example.com"
    monkeypatch.delenv("MEMCACHIER_API_URL", raising=False)
    assert analytics_api(cacheops.connect(url)).base_url == "https://analytics.memcachier.com"
    monkeypatch.setenv("MEMCACHIER_API_URL", "http://127.0.0.1:8080")
    assert analytics_api(cacheops.connect(url)).base_url == "http://127.0.0.1:8080"
    explicit = cacheops.connect(f"{url}?api_url=http%3A%2F%2F127.0.0.1%3A9090")
    assert analytics_api(explicit).base_url == "http://127.0.0.1:9090"


def test_the_backend_keeps_the_admin_options_it_never_reads() -> None:
    """``api_url`` and ``allow_insecure_http`` are memcachier:// options (the URL's query
    carries them) that only the admin side uses: the backend holds them, read-only."""
    url = "memcachier://user:secret-pw@mc.example.com?api_url=http%3A%2F%2Fapi.example.com"
    refused = cacheops.connect(url)
    assert refused.admin_options == {  # type: ignore[attr-defined]
        "api_url": "http://api.example.com",
        "allow_insecure_http": False,
    }
    with pytest.raises(TypeError):
        refused.admin_options["api_url"] = "https://elsewhere"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="allow_insecure_http") as info:
        analytics_api(refused)
    assert "secret-pw" not in str(info.value)
    allowed = cacheops.connect(f"{url}&allow_insecure_http=1")
    assert allowed.admin_options["allow_insecure_http"] is True  # type: ignore[attr-defined]
    assert analytics_api(allowed).base_url == "http://api.example.com"
    with pytest.raises(NotSupported, match="memcachier://"):
        analytics_api(cacheops.connect("memcached://mc.example.com"))
