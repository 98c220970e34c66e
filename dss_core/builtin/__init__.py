"""The core's own defaults, each a plugin registered through the same hooks (see ``BUILTIN_PLUGINS``)."""
