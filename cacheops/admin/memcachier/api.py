"""MemCachier's analytics API, v1 and v2, as typed methods returning typed records.

:class:`MemCachierAPI` speaks every endpoint of MemCachier's two API documents (v1: login,
stats, history, flush, credentials; v2: info, credentials, management, commands, insight,
alerts, introspection) over the one HTTP layer, :class:`cacheops.http.HTTPClient`, with
HTTP basic authentication by the cache's own credentials::

    from cacheops.admin.memcachier import MemCachierAPI

    with MemCachierAPI(os.environ["MEMCACHIER_USERNAME"], os.environ["MEMCACHIER_PASSWORD"]) as api:
        api.flush()                        # v2 POST /api/v2/caches/<cache_id>/flush
        print(api.v1.stats())              # v1 GET /api/v1/<cache_id>/stats, per server

The operations both documents have (flush, the credentials) are written once, in
:class:`Operations`; each version says only where they live and how it shapes them. The
cache id is found through v1 ``/login`` on first use when it is not given.

Where the documents disagree, the choices are marked "Choice" next to the code and listed
in ``docs/memcachier-api.md``. The password never appears in a message, ``repr``, log or
exception built here (the server's words are scrubbed of it too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from ...config import MEMCACHIER_API_URL
from ...errors import CacheError
from ...http import (
    DEFAULT_BREAKER_WINDOW,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
    HTTPOptions,
    quote_segment,
)
from .errors import BACKEND
from .records import (
    Alert,
    CacheInfo,
    CacheStats,
    Capabilities,
    Credential,
    DeliveryConfig,
    HistoryEntry,
    KeyStats,
    LogLine,
    PopularItems,
    Prefix,
    Series,
    as_list,
    as_mapping,
)
from .transport import Transport

__all__ = ["BACKEND", "DEFAULT_BASE_URL", "MemCachierAPI", "MemCachierV1", "Operations"]

#: The API root: ``/api/v1/...`` and ``/api/v2/...`` live below it. Choice: the v2 document
#: shows ``analytics.memcachier.com`` in its authentication section and
#: ``insight.memcachier.com`` on every endpoint; MemCachier's current documentation, the v1
#: document and the Heroku article all use ``analytics``.
DEFAULT_BASE_URL = MEMCACHIER_API_URL

#: What ``update_alert`` may change: every field of an alert but its id.
_ALERT_FIELDS = tuple(spec.name for spec in fields(Alert) if spec.name != "id")
_R = TypeVar("_R")


def _each(parse: Callable[[Any], _R]) -> Callable[[Any], list[_R]]:
    return lambda data: [parse(item) for item in as_list(data)]


def _text(data: Any) -> str:
    if isinstance(data, str):
        return data
    raise TypeError(f"expected a JSON string, got {type(data).__name__}")


def _id(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an id is an int, not {type(value).__name__}")
    return str(value)


class Operations:
    """The operations both documents define, each written once: ``flush`` and the
    credentials (list, create, update, promote, delete). A version sets where its paths
    start (``version``) and overrides how a credential is named in a path (:meth:`_ref`),
    how a capability update is sent (:meth:`_capability_request`) and where a delete goes
    (:meth:`_delete_paths`)."""

    version: ClassVar[int]

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def _path(self, *parts: str) -> str:
        return self._transport.path(self.version, *parts)

    def flush(self) -> None:
        """``POST .../flush``: remove every item (needs ``flush_capability``)."""
        self._transport.request("POST", self._path("flush"), idempotent=True)

    def credentials(self) -> list[Credential]:
        """``GET .../credentials``: every credential (with its password on v2; v1 lists
        none)."""
        return self._transport.get(self._path("credentials"), _each(Credential.from_json))

    def create_credential(self) -> Credential:
        """``POST .../credentials``: a new credential (every capability), with its password
        (v1 answers ``"id": null``). Not resent when the reply is lost (``UnknownOutcome``)."""
        path = self._path("credentials")
        return self._transport.send("POST", path, Credential.from_json, idempotent=False)

    def update_credential(
        self,
        credential: str | int,
        *,
        write: bool | None = None,
        flush: bool | None = None,
        api: bool | None = None,
    ) -> Capabilities:
        """``PATCH .../credentials/<credential>``: set capabilities; None keeps the current
        value. The v2 document says an omitted capability becomes false (v1 makes it true),
        so all three are always sent: when one is None the current ones are read first
        (:meth:`credentials`)."""
        path = self._path("credentials", self._ref(credential))
        wanted = self._capabilities(credential, write, flush, api)
        shaped = self._capability_request(wanted)
        return self._transport.send(
            "PATCH", path, Capabilities.from_json, idempotent=True, **shaped
        )

    def promote_credential(self, credential: str | int) -> Credential:
        """``POST .../credentials/primary/<credential>``: make it the primary credential."""
        path = self._path("credentials", "primary", self._ref(credential))
        return self._transport.send("POST", path, Credential.from_json, idempotent=True)

    def delete_credential(self, credential: str | int) -> None:
        """``DELETE`` the credential (see :meth:`_delete_paths` for where)."""
        *first, last = self._delete_paths(self._ref(credential))
        for path in first:
            if self._transport.request("DELETE", path, allow=(405,)).status != 405:
                return
        self._transport.request("DELETE", last)

    # -- what a version shapes

    def _ref(self, credential: str | int) -> str:
        """A credential in a path: v2 names it by username."""
        if isinstance(credential, str) and credential:
            return quote_segment(credential)
        raise TypeError("a credential is named by its username (a non-empty str)")

    def _capability_request(self, wanted: Capabilities) -> dict[str, Any]:
        return {"json": wanted.as_json()}

    def _delete_paths(self, ref: str) -> list[str]:
        """Where a delete is sent, in turn while the server answers 405."""
        return [self._path("credentials", ref)]

    def _capabilities(
        self, credential: str | int, write: bool | None, flush: bool | None, api: bool | None
    ) -> Capabilities:
        if write is not None and flush is not None and api is not None:
            return Capabilities(write=write, flush=flush, api=api)
        current = next((c for c in self.credentials() if _names(c, credential)), None)
        if current is None:
            raise CacheError(
                f"no credential {credential!r} in cache {self._transport.cache_id}",
                backend=BACKEND,
                server=self._transport.http.server,
                status=404,
            )
        caps = current.capabilities
        return Capabilities(
            write=caps.write if write is None else write,
            flush=caps.flush if flush is None else flush,
            api=caps.api if api is None else api,
        )


def _names(credential: Credential, ref: str | int) -> bool:
    if isinstance(ref, str):
        return credential.username == ref
    return not isinstance(ref, bool) and credential.id == ref


class MemCachierV1(Operations):
    """The v1 endpoints of a :class:`MemCachierAPI` (its ``v1`` attribute). ``login`` is
    :meth:`MemCachierAPI.login`. A credential is a username, or an int id.

    Choices: Update Credentials' request line says POST, its example PATCH (as v2): PATCH,
    with the three capabilities as the table's query parameters and as the example's JSON
    body, with its ``"true"``/``"false"`` strings. Delete Credentials gives the promote
    path, in its request line and its example alike: that path is used, and a server
    answering 405 there is asked again at ``DELETE .../credentials/<credential>``, v2's
    shape.
    """

    version = 1

    def __repr__(self) -> str:
        transport = self._transport
        return f"<MemCachierV1 {transport.http.base_url} user={transport.username}>"

    def stats(self) -> dict[str, CacheStats]:
        """``GET /api/v1/<cache_id>/stats``: the counters of each server, by ``host:port``."""

        def parse(data: Any) -> dict[str, CacheStats]:
            return {str(k): CacheStats.from_json(v) for k, v in as_mapping(data).items()}

        return self._transport.get(self._path("stats"), parse)

    def history(self) -> list[HistoryEntry]:
        """``GET /api/v1/<cache_id>/history``: past stats of each server."""
        return self._transport.get(self._path("history"), _each(HistoryEntry.from_json))

    def _ref(self, credential: str | int) -> str:
        if isinstance(credential, int) and not isinstance(credential, bool):
            return str(credential)
        if isinstance(credential, str) and credential:
            return quote_segment(credential)
        raise TypeError("a credential is a username (str) or an id (int)")

    def _capability_request(self, wanted: Capabilities) -> dict[str, Any]:
        values = {name: "true" if on else "false" for name, on in wanted.as_json().items()}
        return {"json": values, "params": values}

    def _delete_paths(self, ref: str) -> list[str]:
        return [self._path("credentials", "primary", ref), self._path("credentials", ref)]


class MemCachierAPI(Operations):
    """A client of MemCachier's analytics API for one cache, v2 methods on the object and
    v1 methods on :attr:`v1`. Thread-safe. See the module docstring and
    ``docs/memcachier-api.md`` (every endpoint, its method and the choices made).

    ``base_url`` is the API root (a trailing ``/api``, ``/api/v1`` or ``/api/v2`` is
    ignored; default ``MEMCACHIER_API_URL``, else MemCachier's public address); plain
    ``http://`` is refused except to a loopback address unless ``allow_insecure_http``
    (basic auth would carry the password in clear text).
    ``timeout``, ``connect_timeout``, ``retries``, ``retry_deadline`` and ``breaker_window``
    are the HTTP layer's (:class:`~cacheops.http.HTTPOptions`): 503s and refused connections
    are retried, a non-idempotent request whose reply was lost is not (``UnknownOutcome``);
    once the API was found unreachable, requests fail fast for ``breaker_window`` seconds.
    """

    version = 2

    def __init__(
        self,
        username: str,
        password: str,
        cache_id: int | None = None,
        *,
        base_url: str | None = None,
        allow_insecure_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
        breaker_window: float = DEFAULT_BREAKER_WINDOW,
    ) -> None:
        options = HTTPOptions(
            timeout=timeout,
            connect_timeout=connect_timeout,
            retries=retries,
            retry_deadline=retry_deadline,
            allow_insecure_http=allow_insecure_http,
            breaker_window=breaker_window,
        )
        super().__init__(
            Transport(username, password, cache_id, base_url=base_url, options=options)
        )
        self.username = username
        #: The v1 endpoints (``login`` is :meth:`MemCachierAPI.login`).
        self.v1 = MemCachierV1(self._transport)

    # -- identity and lifecycle

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._transport.http.base_url

    @property
    def cache_id(self) -> int:
        """The cache id both APIs' paths carry; found through v1 ``/login`` on first use
        when not given (once: it is kept)."""
        return self._transport.cache_id

    def login(self) -> int:
        """v1 ``GET /api/v1/login``: the cache id of these credentials (kept as
        :attr:`cache_id` when none was given)."""
        return self._transport.login()

    def __repr__(self) -> str:
        known = self._transport.known_cache_id
        cache = "?" if known is None else known
        return f"<MemCachierAPI {self.base_url} user={self.username} cache_id={cache}>"

    def close(self) -> None:
        """Close pooled connections (the next call opens new ones)."""
        self._transport.close()

    def __enter__(self) -> MemCachierAPI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- v2: info, management, commands

    def info(self) -> CacheInfo:
        """``GET /api/v2/caches/<cache_id>/info``: the cache, its credentials, its cluster."""
        return self._transport.get(self._path("info"), CacheInfo.from_json)

    def rotate_sso(self) -> str:
        """``POST .../rotate_sso``: a new SSO secret (dashboard URLs stop working); returns
        the server's string. Not resent when the reply is lost."""
        return self._transport.send("POST", self._path("rotate_sso"), _text, idempotent=False)

    def enable_cache(self) -> None:
        """``POST .../enable_cache``: enable a disabled cache."""
        self._transport.request("POST", self._path("enable_cache"), idempotent=True)

    def switch_cluster(self) -> str:
        """``POST .../switch_cluster``: move to a different cluster; returns its name. Not
        resent when the reply is lost (a second switch could move again)."""
        path = self._path("switch_cluster")
        return self._transport.send("POST", path, _text, idempotent=False)

    def reset_stats(self) -> None:
        """``POST .../reset_stats``: reset the servers' counters."""
        self._transport.request("POST", self._path("reset_stats"), idempotent=True)

    def stats(self) -> CacheStats:
        """``GET .../stats``: the cache's counters (one object for all servers)."""
        return self._transport.get(self._path("stats"), CacheStats.from_json)

    # -- v2: insight

    def processed_stats(
        self, names: Sequence[str], start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../insight/processed_stats?names=...&startTime=...&endTime=...``: series
        of the named stats (``hit_rate``, ``items``...) for all servers together. Without
        ``start``/``end`` the server's defaults apply (24 h ago, now)."""
        return self._series(("insight", "processed_stats"), start, end, names=names)

    def processed_stats_per_server(
        self, names: Sequence[str], start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../insight/processed_stats/per_server``: one series per server (tagged
        ``{"server": ...}``)."""
        where = ("insight", "processed_stats", "per_server")
        return self._series(where, start, end, names=names)

    def latency(self, start: datetime | None = None, end: datetime | None = None) -> list[Series]:
        """``GET .../insight/latency``: latency in nanoseconds, one series per server."""
        return self._series(("insight", "latency"), start, end)

    def _series(
        self,
        where: tuple[str, ...],
        start: datetime | None,
        end: datetime | None,
        names: Sequence[str] | None = None,
    ) -> list[Series]:
        joined = names if names is None or isinstance(names, str) else ",".join(names)
        path = self._path(*where)
        return self._transport.get(path, _each(Series.from_json), start, end, names=joined)

    # -- v2: alerts and delivery configs

    def alerts(self) -> list[Alert]:
        """``GET .../alerts``."""
        return self._transport.get(self._path("alerts"), _each(Alert.from_json))

    def create_alert(
        self,
        trigger_type: str,
        trigger_threshold: int,
        delivery_config_id: int | None = None,
        description: str = "",
        enabled: bool = True,
    ) -> Alert:
        """``POST .../alerts``: ``trigger_type`` ``"hit_rate"`` or ``"memory_usage"``,
        ``trigger_threshold`` a percentage 0-100. Not resent when the reply is lost."""
        body: dict[str, Any] = {
            "trigger_type": trigger_type,
            "trigger_threshold": trigger_threshold,
            "description": description,
            "enabled": enabled,
        }
        if delivery_config_id is not None:
            body["delivery_config_id"] = delivery_config_id
        path = self._path("alerts")
        return self._transport.send("POST", path, Alert.from_json, idempotent=False, json=body)

    def alert(self, alert_id: int) -> Alert:
        """``GET .../alerts/<alert_id>``."""
        return self._transport.get(self._path("alerts", _id(alert_id)), Alert.from_json)

    def update_alert(self, alert_id: int, **changes: Any) -> Alert:
        """``PUT .../alerts/<alert_id>`` with the documented body: the whole alert, ``id``
        included. ``changes`` are fields of :class:`Alert` (``enabled=False``...); the
        others keep their current values, read first (``alert(alert_id)``)."""
        unknown = sorted(set(changes) - set(_ALERT_FIELDS))
        if unknown:
            raise TypeError(f"update_alert() got unknown field(s) {unknown}; use {_ALERT_FIELDS}")
        body = {**self.alert(alert_id).as_json(), **changes, "id": alert_id}
        path = self._path("alerts", _id(alert_id))
        return self._transport.send("PUT", path, Alert.from_json, idempotent=True, json=body)

    def delete_alert(self, alert_id: int) -> None:
        """``DELETE .../alerts/<alert_id>``."""
        self._transport.request("DELETE", self._path("alerts", _id(alert_id)))

    def delivery_configs(self) -> list[DeliveryConfig]:
        """``GET .../alerts/configs``."""
        path = self._path("alerts", "configs")
        return self._transport.get(path, _each(DeliveryConfig.from_json))

    def create_delivery_config(
        self,
        delivery_type: str,
        *,
        email: str | None = None,
        slack_url: str | None = None,
        slack_channel: str | None = None,
    ) -> DeliveryConfig:
        """``POST .../alerts/configs``: ``delivery_type`` ``"email"`` (with ``email``) or
        ``"slack"`` (with ``slack_url`` and ``slack_channel``). Not resent when the reply is
        lost."""
        given = {"email": email, "slack_url": slack_url, "slack_channel": slack_channel}
        body = {"delivery_type": delivery_type, **{k: v for k, v in given.items() if v is not None}}
        path = self._path("alerts", "configs")
        parse = DeliveryConfig.from_json
        return self._transport.send("POST", path, parse, idempotent=False, json=body)

    def delete_delivery_config(self, config_id: int) -> None:
        """``DELETE .../alerts/configs/<config_id>``."""
        self._transport.request("DELETE", self._path("alerts", "configs", _id(config_id)))

    # -- v2: introspection

    def recent_logs(self) -> dict[str, list[LogLine]]:
        """``GET .../introspection/recent_logs``: the last log lines, by server."""

        def parse(data: Any) -> dict[str, list[LogLine]]:
            lines = _each(LogLine.from_json)
            return {str(server): lines(each) for server, each in as_mapping(data).items()}

        return self._transport.get(self._path("introspection", "recent_logs"), parse)

    def compound_stats(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../introspection/compound_stats``: keys, size, hit/miss/mutation rates."""
        return self._series(("introspection", "compound_stats"), start, end)

    def popular_items(self) -> PopularItems:
        """``GET .../introspection/popular_items``."""
        path = self._path("introspection", "popular_items")
        return self._transport.get(path, PopularItems.from_json)

    def key_stats(self, key: str) -> list[KeyStats]:
        """``GET .../introspection/key_stats?key=<key>``: ``key`` as the server stores it
        (a backend's ``make_key(key)``, prefix included)."""
        path = self._path("introspection", "key_stats")
        return self._transport.get(path, _each(KeyStats.from_json), key=key)

    def prefixes(self) -> list[Prefix]:
        """``GET .../introspection/prefixes``: the watched prefixes."""
        path = self._path("introspection", "prefixes")
        return self._transport.get(path, _each(Prefix.from_json))

    def watch_prefix(self, name: str) -> Prefix:
        """``POST .../introspection/prefixes`` ``{"name": name}``: start collecting stats
        for keys starting with ``name``. Not resent when the reply is lost."""
        path = self._path("introspection", "prefixes")
        return self._transport.send(
            "POST", path, Prefix.from_json, idempotent=False, json={"name": name}
        )

    def unwatch_prefix(self, prefix_id: int) -> None:
        """``DELETE .../introspection/prefixes/<prefix_id>``."""
        self._transport.request("DELETE", self._path("introspection", "prefixes", _id(prefix_id)))

    def prefix_stats(
        self, prefix_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../introspection/prefixes/<prefix_id>/stats``."""
        return self._series(("introspection", "prefixes", _id(prefix_id), "stats"), start, end)

    def prefix_popular_items(self, prefix_id: int) -> PopularItems:
        """``GET .../introspection/prefixes/<prefix_id>/popular_items``."""
        path = self._path("introspection", "prefixes", _id(prefix_id), "popular_items")
        return self._transport.get(path, PopularItems.from_json)

    # -- the deploy hook

    def deploy_hook_url(self) -> str:
        """The Heroku HTTP deploy-hook URL of the Heroku article: v1 flush with the
        credentials in it, ``https://USER:PASS@<host>/api/v1/<cache_id>/flush``.

        **It contains the password.** Whoever can read it (the deploy-hooks add-on's
        config, ``heroku addons:info``, anyone with access to the app) can use this
        credential: give it a credential with only the ``api`` and ``flush``
        capabilities. cacheops never logs it. ``cacheops flush`` in a ``release:`` phase
        needs no URL at all: prefer it (see ``docs/memcachier-api.md``).
        """
        # Choice: the article writes ".../api/v1//<cache_id>/flush", the "//" an artefact
        # of its line continuation; the URL here is the documented flush path.
        return self._transport.url_with_credentials(self.v1._path("flush"))
