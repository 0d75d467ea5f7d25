"""What a ``CACHES`` entry's ``LOCATION`` may be, turned into a cacheops URL.

- empty or omitted: the environment, as ``cacheops.connect()`` reads it (``CACHEOPS_URL``,
  ``MEMCACHIER_*``, ``IRON_*``);
- ``"env:NAME"``: the URL in the environment variable ``NAME``. Django's debug page and its
  admin error e-mails print the settings, and ``SafeExceptionReporterFilter`` hides values by
  the name of their key, which ``LOCATION`` does not match: a password in it is printed;
- a cacheops URL;
- a list or tuple of ``host[:port]``, Django's usual multi-server form: a memcached cluster.
"""

from __future__ import annotations

import os
from typing import Any

from cacheops import ConfigurationError
from cacheops.config import MEMCACHE_PORT, Server, parse_servers, parse_url

ENV_REFERENCE = "env:"
_CLUSTER_FORM = "memcached://host1:11211,host2:11211"
# Characters that would make a host entry a URL part (credentials, path, query).
_NOT_IN_A_HOST = frozenset("@/?#")


def resolve(location: Any) -> str | None:
    """The cacheops URL ``LOCATION`` stands for; None for the environment. Raises
    ConfigurationError naming the problem, never a password."""
    if isinstance(location, (list, tuple)):
        return _cluster(location)
    if location is None or location == "":
        return None
    if not isinstance(location, str):
        raise ConfigurationError(
            f"LOCATION must be a cacheops URL such as {_CLUSTER_FORM!r} (or a list of "
            f"host:port), not a {type(location).__name__}"
        )
    if location.startswith(ENV_REFERENCE):
        name = location[len(ENV_REFERENCE) :]
        url = os.environ.get(name)
        if not url:
            raise ConfigurationError(
                f"LOCATION reads the environment variable {name}, which is not set; set it "
                "to a cacheops URL"
            )
        parse_url(url, source=name)  # so an error names the variable
        return url
    if "://" not in location:
        # Django's memcached backends take "host:port" or "host1:port;host2:port".
        raise ConfigurationError(
            f"LOCATION is not a cacheops URL: write memcached servers as {_CLUSTER_FORM!r} "
            "(or a list of 'host:port'), or read a URL from the environment with 'env:NAME'"
        )
    return location


def _cluster(hosts: list[Any] | tuple[Any, ...]) -> str:
    hint = (
        f"a list LOCATION holds memcached servers as 'host:port'; for another cache or "
        f"credentials give one URL string, e.g. {_CLUSTER_FORM!r} or 'env:NAME'"
    )
    if not hosts:
        raise ConfigurationError(f"LOCATION is an empty list: {hint}")
    servers: list[Server] = []
    for host in hosts:
        if not isinstance(host, str) or "://" in host or _NOT_IN_A_HOST & set(host):
            raise ConfigurationError(f"LOCATION: {hint}")
        try:
            servers.extend(parse_servers(host, "memcached", MEMCACHE_PORT))
        except ConfigurationError as exc:
            raise ConfigurationError(f"LOCATION: {exc.message}") from None
    return "memcached://" + ",".join(str(server) for server in servers)


__all__ = ["ENV_REFERENCE", "resolve"]
