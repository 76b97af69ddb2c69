"""The `bulkimport` command: the only place that prints, reads the environment and chooses
exit codes. The emulator is loaded only by `bulkimport emulator` and `bulkimport demo`."""

from bulkimport.cli.commands import main

__all__ = ["main"]
