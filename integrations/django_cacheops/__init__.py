"""Django integration for cacheops (the CACHES backend arrives with issue 6; not built yet)."""
