"""What the MemCachier documents fix for the local server: quoted messages and stats keys.

Written from the documents themselves (shared/seeds 001, v1, and 003, v2), never from the
client's constants: the server is the oracle the client is tested against, so the two
lists are compared by a test instead of one being the other.
"""

from __future__ import annotations

# Messages quoted from the documents.
V1_FORBIDDEN = "You are not authorized to perform this action."
V1_NO_CACHE = "No cache found."
V2_INVALID_CACHE_ID = "The specified cache ID is invalid (not a number)."
V2_UNAUTHORIZED = "Unauthorized to access cache with this ID."
V2_FORBIDDEN = "Forbidden to access cache with this ID."
V2_CACHE_NOT_FOUND = "Cache not found."
V2_NOT_ALLOWED_TO_MANAGE = "Not allowed to manage credentials."
V2_NAMES_REQUIRED = "Query parameter names is required."
V2_ALERT_NEEDS_TYPE = "The alert could not be added. An alert requires a type."
V2_CONFIG_NEEDS_TYPE = (
    "The alert delivery config could not be added. An alert delivery config requires a type."
)
V2_INVALID_ALERT_ID = "The specified alert ID is invalid (not a number)."
V2_INVALID_CONFIG_ID = "The specified alert delivery config ID is invalid (not a number)."
# Not documented: chosen here.
V2_NO_FLUSH_CAPABILITY = "Not allowed to flush this cache: the credentials lack flush_capability."
PRIMARY_NOT_DELETABLE = "The primary credentials cannot be deleted; promote another set first."

#: The stats keys of one server, in the order of the examples of v1 ``stats`` and
#: ``history`` and of v2 ``stats`` (the three show the same 31 keys).
DOCUMENTED_STATS = (
    "auth_cmds",
    "auth_errors",
    "bytes",
    "bytes_read",
    "bytes_written",
    "cas_badval",
    "cas_hits",
    "cas_misses",
    "cmd_delete",
    "cmd_flush",
    "cmd_get",
    "cmd_set",
    "cmd_touch",
    "curr_connections",
    "curr_items",
    "decr_hits",
    "decr_misses",
    "delete_hits",
    "delete_misses",
    "evictions",
    "expired",
    "get_hits",
    "get_misses",
    "incr_hits",
    "incr_misses",
    "limit_maxbytes",
    "time",
    "total_connections",
    "total_items",
    "touch_hits",
    "touch_misses",
)


__all__ = [
    "DOCUMENTED_STATS",
    "PRIMARY_NOT_DELETABLE",
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
]
