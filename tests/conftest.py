pytest_plugins = ["cacheops.testing.plugin"]
