"""The v2 alerts and alert delivery configs: kept in memory with the documented shapes
and validation; no alert is ever delivered."""

from __future__ import annotations

from typing import Any

from cacheops.testing.http_server import NO_BODY

from .documented import (
    V2_ALERT_NEEDS_TYPE,
    V2_CONFIG_NEEDS_TYPE,
    V2_INVALID_ALERT_ID,
    V2_INVALID_CONFIG_ID,
)
from .state import CacheState
from .wire import Ctx, Invalid, Reply, is_int, is_number, json_object, numeric_param


def v2_alerts(state: CacheState, ctx: Ctx) -> Reply:
    if ctx.method == "GET":
        with state.lock:
            return Reply(200, [dict(a) for a in state.alerts.values()])
    doc = json_object(ctx.body)
    if not isinstance(doc.get("trigger_type"), str) or not doc["trigger_type"]:
        raise Invalid(400, V2_ALERT_NEEDS_TYPE)
    # Ambiguity: only the type is documented as required; the rest defaults to
    # threshold 0, no delivery config, empty description, enabled.
    alert: dict[str, Any] = {
        "id": 0,
        "trigger_type": "",
        "trigger_threshold": 0,
        "delivery_config_id": None,
        "description": "",
        "enabled": True,
    }
    with state.lock:
        _apply_alert_fields(state, alert, doc, "The alert could not be added")
        alert["id"] = state.next_id("alert")
        state.alerts[alert["id"]] = alert
        return Reply(201, dict(alert))


def v2_alert(state: CacheState, ctx: Ctx) -> Reply:
    alert_id = numeric_param(ctx, "alert", V2_INVALID_ALERT_ID)
    with state.lock:
        alert = state.alerts.get(alert_id)
        if ctx.method == "GET":
            if alert is None:
                # Ambiguity: not documented; 404.
                raise Invalid(404, "Alert not found.")
            return Reply(200, dict(alert))
        if ctx.method == "DELETE":
            if alert is None:
                raise Invalid(400, "The alert could not be deleted: no alert with this ID.")
            del state.alerts[alert_id]
            # 201 as documented ("Deleted alert successfully."); no body is documented.
            return Reply(201, NO_BODY)
    doc = json_object(ctx.body)
    with state.lock:
        alert = state.alerts.get(alert_id)
        if alert is None:
            raise Invalid(400, "The alert could not be updated: no alert with this ID.")
        if "id" in doc and doc["id"] != alert_id:
            raise Invalid(400, "The alert could not be updated: the body's id differs.")
        # Ambiguity: the example sends only id and enabled: fields left out keep
        # their values.
        updated = dict(alert)
        _apply_alert_fields(state, updated, doc, "The alert could not be updated")
        state.alerts[alert_id] = updated
        return Reply(201, dict(updated))


def _apply_alert_fields(
    state: CacheState, alert: dict[str, Any], doc: dict[str, Any], what: str
) -> None:
    if "trigger_type" in doc:
        if doc["trigger_type"] not in ("hit_rate", "memory_usage"):
            raise Invalid(400, f'{what}: trigger_type must be "hit_rate" or "memory_usage".')
        alert["trigger_type"] = doc["trigger_type"]
    if "trigger_threshold" in doc:
        value = doc["trigger_threshold"]
        if not is_number(value) or not 0 <= value <= 100:
            raise Invalid(400, f"{what}: trigger_threshold must be a percentage 0-100.")
        alert["trigger_threshold"] = value
    if "delivery_config_id" in doc:
        value = doc["delivery_config_id"]
        if value is not None and (not is_int(value) or value not in state.configs):
            raise Invalid(400, f"{what}: no delivery config with id {value!r}.")
        alert["delivery_config_id"] = value
    if "description" in doc:
        if not isinstance(doc["description"], str):
            raise Invalid(400, f"{what}: description must be a string.")
        alert["description"] = doc["description"]
    if "enabled" in doc:
        if not isinstance(doc["enabled"], bool):
            raise Invalid(400, f"{what}: enabled must be true or false.")
        alert["enabled"] = doc["enabled"]


def v2_configs(state: CacheState, ctx: Ctx) -> Reply:
    if ctx.method == "GET":
        with state.lock:
            return Reply(200, [dict(c) for c in state.configs.values()])
    doc = json_object(ctx.body)
    kind = doc.get("delivery_type")
    if not isinstance(kind, str) or not kind:
        raise Invalid(400, V2_CONFIG_NEEDS_TYPE)
    what = "The alert delivery config could not be added"
    if kind not in ("email", "slack"):
        raise Invalid(400, f'{what}: delivery_type must be "email" or "slack".')
    config: dict[str, Any] = {"id": 0, "delivery_type": kind}
    for name in ("email", "slack_url", "slack_channel"):
        value = doc.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise Invalid(400, f"{what}: {name} must be a string.")
        config[name] = value
    if kind == "email" and "@" not in config["email"]:
        raise Invalid(400, f"{what}: an email delivery config needs an email address.")
    if kind == "slack" and not config["slack_url"].startswith(("https://", "http://")):
        raise Invalid(400, f"{what}: a slack delivery config needs a slack_url.")
    with state.lock:
        config["id"] = state.next_id("config")
        state.configs[config["id"]] = config
        return Reply(201, dict(config))


def v2_config(state: CacheState, ctx: Ctx) -> Reply:
    config_id = numeric_param(ctx, "config", V2_INVALID_CONFIG_ID)
    what = "The alert delivery config could not be deleted"
    with state.lock:
        if config_id not in state.configs:
            raise Invalid(400, f"{what}: no delivery config with this ID.")
        users = [a["id"] for a in state.alerts.values() if a["delivery_config_id"] == config_id]
        if users:
            # Ambiguity: not documented; an alert in use keeps its config.
            raise Invalid(400, f"{what}: alert(s) {users} use it.")
        del state.configs[config_id]
    return Reply(204, NO_BODY)


__all__ = ["v2_alert", "v2_alerts", "v2_config", "v2_configs"]
