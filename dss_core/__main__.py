"""``python -m dss_core``: the same as the ``dss`` command."""

from .cli import main

main()
