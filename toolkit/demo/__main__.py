"""``python -m toolkit.demo FOLDER [--seed N]``: write the sample CSVs (see sample.py)."""

from .sample import main

raise SystemExit(main())
