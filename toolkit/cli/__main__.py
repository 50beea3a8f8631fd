"""``python -m toolkit.cli``: the ``toolkit`` command."""

from . import main

raise SystemExit(main())
