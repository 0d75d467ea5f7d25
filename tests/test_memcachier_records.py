"""The MemCachier records and their one field-driven decoder, on the documents' own examples.

Pure decoding (no server): the JSON here is copied from the v1 and v2 API documents, or
is what they allow (fields left out, numbers as strings), so the oracle is the documents,
not the decoder. What the client does with a server's answers is in test_memcachier_api.py.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

import pytest

from cacheops.admin.memcachier import (
    STATS_COUNTERS,
    Alert,
    CacheInfo,
    CacheStats,
    Credential,
    DeliveryConfig,
    HistoryEntry,
    KeyStats,
    LogLine,
    PopularItems,
    Popularity,
    Prefix,
    Series,
)

UTC = timezone.utc


def test_a_v1_credential_with_its_extra_uuid_and_null_id() -> None:
    # v1 "Create Credentials" example.
    credential = Credential.from_json(
        {
            "cache_id": 14,
            "id": None,
            "sasl_password": "CRED_PASSWORD",
            "sasl_username": "CRED_USERNAME",
            "uuid": None,
            "primary": False,
            "flush_capability": True,
            "write_capability": True,
            "api_capability": "false",
        }
    )
    assert (credential.id, credential.cache_id, credential.username) == (None, 14, "CRED_USERNAME")
    assert credential.password == "CRED_PASSWORD"
    assert "CRED_PASSWORD" not in repr(credential)
    caps = credential.capabilities
    assert (caps.write, caps.flush, caps.api, credential.primary) == (True, True, False, False)
    # A capability left out is false, as the v2 document says the server reads it.
    bare = Credential.from_json({"sasl_username": "u"}).capabilities
    assert (bare.write, bare.flush, bare.api) == (False, False, False)


@pytest.mark.parametrize("username", [None, 42, ["u"]])
def test_a_credential_without_a_username_is_refused(username: Any) -> None:
    doc = {} if username is None else {"sasl_username": username}
    with pytest.raises(ValueError, match="a credential without sasl_username"):
        Credential.from_json(doc)


def test_v1_history_reads_milliseconds_and_keeps_every_counter() -> None:
    entry = HistoryEntry.from_json(
        {
            "memcachier_id": 11,
            "server": "a.b.c.totallyaserver.memcachier.com",
            "stats": {
                "auth_cmds": 158,
                "limit_maxbytes": "1153433600",
                "time": 1490731542,
                "extra_counter": 7,
            },
            "timestamp": "1490731541096",
        }
    )
    assert entry.memcachier_id == "11"
    assert entry.timestamp == datetime(2017, 3, 28, 20, 5, 41, 96000, tzinfo=UTC)
    stats = entry.stats
    assert (stats.auth_cmds, stats.limit_maxbytes, stats.get_hits) == (158, 1153433600, 0)
    assert stats.at == datetime(2017, 3, 28, 20, 5, 42, tzinfo=UTC)
    assert stats.raw["extra_counter"] == 7 and "extra_counter" not in stats.as_dict()
    assert list(stats.as_dict()) == list(STATS_COUNTERS)
    assert HistoryEntry.from_json({"timestamp": "0"}).memcachier_id == ""


def test_the_stats_counters_are_the_31_of_the_documents() -> None:
    assert len(STATS_COUNTERS) == 31 == len(set(STATS_COUNTERS))
    assert STATS_COUNTERS[0] == "auth_cmds" and STATS_COUNTERS[-1] == "touch_misses"
    assert set(STATS_COUNTERS) == {f.name for f in fields(CacheStats)} - {"raw"}


def test_v2_info_decodes_nested_credentials_and_fills_what_is_missing() -> None:
    info = CacheInfo.from_json(
        {
            "id": "7",
            "name": "c",
            "servers": ["a:11211", 5],
            "credentials": [{"sasl_username": "u", "sasl_password": "p", "primary": True}],
            "enabled": 1,
        }
    )
    assert (info.id, info.name, info.label, info.plan, info.enabled) == (7, "c", "", 0, True)
    assert info.servers == ["a:11211", "5"]
    assert [(c.username, c.primary) for c in info.credentials] == [("u", True)]
    with pytest.raises(TypeError, match="JSON array"):
        CacheInfo.from_json({"credentials": {"sasl_username": "u"}})


def test_series_rows_and_tags() -> None:
    series = Series.from_json(
        {
            "name": "hit_rate",
            "tags": {"server": "a:1"},
            "columns": ["time", "hit_rate"],
            "values": [["2023-01-11T10:10:44.5Z", 0.5]],
        }
    )
    assert series.tags == {"server": "a:1"}
    assert series.rows() == [
        {"time": datetime(2023, 1, 11, 10, 10, 44, 500000, tzinfo=UTC), "hit_rate": 0.5}
    ]
    assert Series.from_json({}) == Series(name="", tags={}, columns=[], values=[])
    with pytest.raises(TypeError):
        Series.from_json({"values": [1]})


def test_alerts_default_to_enabled_and_round_trip_their_update_body() -> None:
    # v2 "Create Alert" example, with the optional fields left out.
    alert = Alert.from_json({"id": 3, "trigger_type": "hit_rate", "trigger_threshold": 50})
    assert (alert.delivery_config_id, alert.description, alert.enabled) == (None, "", True)
    assert Alert.from_json({"id": 3, "enabled": "false"}).enabled is False
    assert Alert.from_json(alert.as_json()) == alert
    assert list(alert.as_json()) == [
        "id",
        "trigger_type",
        "trigger_threshold",
        "delivery_config_id",
        "description",
        "enabled",
    ]


def test_introspection_records_from_the_v2_examples() -> None:
    line = LogLine.from_json(
        {"timestamp": "2023-01-11T10:10:44Z", "key": "", "command": "STATS", "status": "OK"}
    )
    assert (line.timestamp, line.command, line.size) == (
        datetime(2023, 1, 11, 10, 10, 44, tzinfo=UTC),
        "STATS",
        0,
    )
    with pytest.raises(ValueError, match="not a time"):
        LogLine.from_json({"key": "k"})
    stats = KeyStats.from_json(
        {"timestamp": 1566656122, "name": "k", "hit_count": "3", "in_cache": True}
    )
    assert (stats.timestamp.year, stats.hit_count, stats.miss_count, stats.in_cache) == (
        2019,
        3,
        0,
        True,
    )
    popular = PopularItems.from_json(
        {"time_slice": 186554450945, "most_hit_keys": [{"name": "k", "popularity": 2.5}]}
    )
    assert popular.most_hit_keys == [Popularity("k", 2.5)] and popular.popular_prefixes == []
    assert Prefix.from_json({"id": 1, "name": "p:"}) == Prefix(1, "p:")
    slack = DeliveryConfig.from_json({"id": 1, "delivery_type": "slack", "slack_url": "https://x"})
    assert slack.email == "" and "https://x" not in repr(slack)


def test_an_answer_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(TypeError, match="JSON object"):
        Prefix.from_json(["id", 1])
