"""An example Django project on cacheops."""
