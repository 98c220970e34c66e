"""Fails on import, as a plugin with a missing dependency would."""

import dss_no_such_dependency  # noqa: F401
