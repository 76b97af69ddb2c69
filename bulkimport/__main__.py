from __future__ import annotations

from bulkimport.cli import main

# The guard keeps worker processes (spawned for the dry run's PDF checks) from starting a CLI.
if __name__ == "__main__":
    main()
