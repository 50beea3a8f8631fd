"""Set-up for the notebook tests: ``make notebooks`` (``pytest --nbval notebooks/``).

nbval starts one kernel per notebook from this process, and the kernel inherits its
environment. Three things would make a kernel's outputs differ from the committed ones:

* ``TOOLKIT_DATABASE_URL``: ``tk.connect()`` would use that database instead of the
  embedded SQLite file the committed outputs come from. The notebooks are checked on
  SQLite; run one on PostgreSQL by hand (see README.md in this folder).
* automatic progress bars: ``TOOLKIT_PROGRESS=off`` keeps the bars that a large
  ``insert_frame`` draws by itself out of the outputs (``progress=True`` still shows).
* matplotlib's font cache: on a machine where it was never built, the first plot logs
  "Matplotlib is building the font cache" to the cell's stderr. Build it here, once,
  before any kernel starts (the cache lives in the user's cache folder, shared with the
  kernels).
"""

import os

import matplotlib.font_manager

os.environ.pop("TOOLKIT_DATABASE_URL", None)
os.environ["TOOLKIT_PROGRESS"] = "off"
matplotlib.font_manager.findfont("DejaVu Sans")
