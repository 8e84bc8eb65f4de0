"""``python -m bot.console …``: the staff accounts command under the name operators already use.

The command itself is tools/staff.py (``python -m tools.staff`` is the same); this name stays because
scripts and runbooks call it (docs/console.md).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from tools.staff import main

    sys.exit(main())
