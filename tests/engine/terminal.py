"""A command run in a pseudo-terminal, its screen read through a terminal emulator (pyte): what
a person at a terminal would see, redraws and cursor moves applied."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import pexpect
import pyte

COLUMNS, ROWS = 160, 60
# What the live display and the emulator's pty need from the environment, and nothing that
# would change how rich sizes or colours the screen.
DROPPED = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


class Terminal:
    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: str | None = None) -> None:
        env = {k: v for k, v in env.items() if k not in DROPPED} | {"TERM": "xterm-256color"}
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self._stream = pyte.ByteStream(self.screen)
        self.child: pexpect.spawn[bytes] = pexpect.spawn(
            argv[0], list(argv[1:]), env=env, cwd=cwd, dimensions=(ROWS, COLUMNS)
        )
        self.seen: list[list[str]] = []  # every screen drawn, in order
        self.raw = b""

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def pump(self, timeout: float = 0.1) -> bool:
        """Read what the program wrote (waiting up to `timeout`); False once it has closed."""
        try:
            data = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            return False
        self.raw += data
        self._stream.feed(data)
        self.seen.append(self.lines())
        return True

    def wait_for(self, check: Callable[[list[str]], bool], limit: float, what: str) -> list[str]:
        """The first screen `check` accepts, reading until `limit` seconds have passed."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            alive = self.pump()
            if check(self.lines()):
                return self.lines()
            if not alive:
                break
        raise AssertionError(f"never saw {what}; the screen:\n" + "\n".join(self.lines()))

    def finish(self, limit: float) -> int:
        """Read to the end; the exit status."""
        deadline = time.monotonic() + limit
        while self.pump() and time.monotonic() < deadline:
            pass
        self.child.close(force=time.monotonic() >= deadline)
        status = self.child.exitstatus
        assert status is not None, "the program did not end in time"
        return int(status)

    def interrupt(self) -> None:
        """Ctrl+C, typed at the keyboard: the terminal sends SIGINT to the program."""
        self.child.sendintr()

    def kill(self) -> None:
        if self.child.isalive():
            self.child.kill(9)
        self.child.close(force=True)
