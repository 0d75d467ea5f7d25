"""A local MemCachier analytics API server (v1 and v2) acting on a real memcached.

It serves every endpoint of MemCachier's analytics API v1 (``/api/v1/...``, plus
``/api/login``) and v2 (``/api/v2/caches/<cache_id>/...``) on one loopback port, and its
commands act on a real memcached (:class:`~cacheops.testing.memcached.MemcachedServer`)::

    from cacheops.testing.memcachier_api import MemCachierAPIServer

    with MemCachierAPIServer() as api:           # starts and owns a memcached with auth
        user, password = api.primary_credentials
        requests.post(f"{api.base_url}/api/v1/{api.cache_id}/flush", auth=(user, password))

Credentials
-----------
Every credential has a ``sasl_username`` and a ``sasl_password`` of the form
``"<username> <secret>"``: that is the MemCachier password a client is configured with, and
(see :mod:`cacheops.testing.memcached`) exactly the ``<user> <pass>`` login payload a real
memcached started with an authfile accepts for the line ``username:secret``. So the same
``MEMCACHIER_USERNAME`` / ``MEMCACHIER_PASSWORD`` work for HTTP basic auth against this
server and for the MemCachier-format login against its memcached.

- The primary credential exists from the start (:attr:`MemCachierAPIServer.primary_credentials`).
  With a memcached passed in that has users, its users become the credentials (the first
  one primary); otherwise one is generated.
- Credentials created through the API are also memcached logins, as long as memcached can
  hold them: memcached's authfile takes at most 8 users, so the logins are the primary
  plus the oldest other credentials up to 8; later ones are API-only until a slot frees
  (deleting a login, or promoting an API-only credential, recomputes the set).
  :meth:`MemCachierAPIServer.memcached_logins` lists them. Changes are applied with
  :meth:`MemcachedServer.reload_auth` before the API answers, so a created credential
  logs in at once (the real service can take minutes) and a deleted one stops at once.
  With a memcached without users every credential is API-only.
- Capabilities are enforced by the API only: ``api_capability`` false gives 403 on every
  API call (v1 ``"You are not authorized to perform this action."``, v2 ``"Forbidden to
  access cache with this ID."``); ``flush_capability`` false refuses an API flush (v1 the
  documented 403; v2 a 403 naming the capability) and nothing is flushed. Over the
  memcache protocol memcached cannot enforce ``write_capability`` or
  ``flush_capability`` (its logins have no read-only mode): those are stored and reported.

Error bodies
------------
v1 documents its responses as JSON values (``403 "You are not authorized to perform
this action."``, ``200 ""``): v1 errors are a JSON *string*, and flush/delete answer the
JSON string ``""``. v2 documents only descriptions: v2 errors are ``{"error": "<message>"}``
with the documented message. Unknown route 404 and wrong verb 405 (with ``Allow``) use the
shape of the API version the path names (``{"error": ...}`` outside both).

What the server measures, and how every derived number is computed
-------------------------------------------------------------------
Nothing is invented: every number comes from memcached itself.

*Samples.* A sampler thread (every ``sample_interval`` seconds; ``None``: no thread) and
:meth:`MemCachierAPIServer.sample_now` read memcached's ``stats`` over one persistent,
logged-in admin connection and keep ``(clock(), stats, latency)`` (at most ``max_samples``).
Latency is the round-trip time of that ``stats`` command, in nanoseconds. v1 ``history``
lists the samples; insight and compound stats are computed from them.

*Documented stats shape.* v1 ``stats``/``history`` and v2 ``stats`` carry exactly the 31
documented keys, read from memcached's ``stats``, except two memcached does not have:
``cmd_delete`` = ``delete_hits + delete_misses`` and ``expired`` = ``get_expired``.
v2 ``stats`` is one flat object (summed over servers; ``time`` is the latest). The
server's own traffic is real traffic: its admin, log-stream and synchronisation
connections count in ``curr_connections``/``total_connections``, its logins in
``auth_cmds``, and each ``stats`` in ``bytes_read``/``bytes_written``.

*Series* (insight, compound stats, prefix stats): :mod:`.series`. *Per-key data* (recent
logs, popular items, key stats, watched prefixes) comes from memcached's own log stream:
:mod:`.observer` reads it, :mod:`.introspection` lists what is derived from it. A reset
(:meth:`MemCachierAPIServer.reset`) does not wait for the stream: events memcached logged
before the reset (by its own ``ts``, this host's wall clock) are dropped whenever they
arrive.

Layout
------
:mod:`.server` (lifecycle, test controls, HTTP plumbing), :mod:`.routes` (the route table
and the dispatch of a request), :mod:`.state` (the cache's state and its memcached),
:mod:`.credentials`, :mod:`.commands`, :mod:`.insight`, :mod:`.introspection`,
:mod:`.alerts` (the endpoints, as functions over the state), :mod:`.series` (derived
numbers), :mod:`.memcached_link` and :mod:`.observer` (the connections to memcached),
:mod:`.records`, :mod:`.wire`, :mod:`.documented` (what the documents fix).

Choices where the documents are ambiguous are marked "Ambiguity" next to the code.
"""

from cacheops.testing.faults import Faults

from .documented import (
    DOCUMENTED_STATS,
    V1_FORBIDDEN,
    V1_NO_CACHE,
    V2_ALERT_NEEDS_TYPE,
    V2_CACHE_NOT_FOUND,
    V2_CONFIG_NEEDS_TYPE,
    V2_FORBIDDEN,
    V2_INVALID_ALERT_ID,
    V2_INVALID_CACHE_ID,
    V2_INVALID_CONFIG_ID,
    V2_NAMES_REQUIRED,
    V2_NO_FLUSH_CAPABILITY,
    V2_NOT_ALLOWED_TO_MANAGE,
    V2_UNAUTHORIZED,
)
from .records import Credential, RecordedRequest, Sample
from .series import PROCESSED_STAT_NAMES
from .server import DEFAULT_CACHE_ID, MemCachierAPIServer

__all__ = [
    "DEFAULT_CACHE_ID",
    "DOCUMENTED_STATS",
    "PROCESSED_STAT_NAMES",
    "V1_FORBIDDEN",
    "V1_NO_CACHE",
    "V2_ALERT_NEEDS_TYPE",
    "V2_CACHE_NOT_FOUND",
    "V2_CONFIG_NEEDS_TYPE",
    "V2_FORBIDDEN",
    "V2_INVALID_ALERT_ID",
    "V2_INVALID_CACHE_ID",
    "V2_INVALID_CONFIG_ID",
    "V2_NAMES_REQUIRED",
    "V2_NOT_ALLOWED_TO_MANAGE",
    "V2_NO_FLUSH_CAPABILITY",
    "V2_UNAUTHORIZED",
    "Credential",
    "Faults",
    "MemCachierAPIServer",
    "RecordedRequest",
    "Sample",
]
