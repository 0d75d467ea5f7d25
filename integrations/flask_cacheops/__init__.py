"""Flask integration for cacheops (the extension arrives with issue 7; not built yet)."""
