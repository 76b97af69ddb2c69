"""Nothing unread goes unreported: a folder or file the account cannot read is named with its
reason, in the plan, the summary and the report, and the run exits 1; an unreadable root stops
the run before anything is sent.

The refusal is the kernel's, not a stub. The CLI runs as a process, as a user runs it. Root
reads whatever the mode bits say, so when the tests run as root the CLI starts without the two
capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): it is still uid 0, but the
mode bits now bind it as the owner of the test's folders. (Switching to an unprivileged uid
instead would not do here: the interpreter lives under /root, which such a user cannot enter.)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from bulkimport.emulator import EmulatorConfig, serve
from bulkimport.samples import write_archive

from .conftest import config_dict, pdf_bytes, run_env, write_config

pytestmark = pytest.mark.anyio

# Drops the capabilities from the bounding set, then becomes the CLI: on exec, uid 0 gets only
# the capabilities the bounding set still holds.
WITHOUT_DAC_CAPABILITIES = """\
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise OSError(ctypes.get_errno(), "cannot drop capability %d" % cap)
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def cli(*args: str) -> list[str]:
    """The CLI's command line, as a process the mode bits bind whoever runs the tests."""
    python = [sys.executable]
    if os.geteuid() == 0:
        python += ["-c", WITHOUT_DAC_CAPABILITIES]
    return [*python, "-m", "bulkimport", *args]


@contextmanager
def modes(*changes: tuple[Path, int]) -> Iterator[None]:
    """chmod for the test, undone after it, so the temporary folder can be removed."""
    before = [(path, path.stat().st_mode & 0o7777) for path, _ in changes]
    try:
        for path, mode in changes:
            path.chmod(mode)
        yield
    finally:
        for path, mode in reversed(before):
            path.chmod(mode)


async def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    with anyio.fail_after(120):
        done = await anyio.run_process(cli(*args), env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


LOCKED = (
    "this folder cannot be read (Permission denied): its files were not imported; give the "
    'account read access to it, or leave it out with source.exclude = ["locked/**"]'
)
BEHIND = (
    "this file cannot be read (Permission denied): give the account read access to it and to "
    "its folder"
)
SEALED = "cannot read the file: Permission denied: give the account read access to it"


async def test_what_the_account_cannot_read_is_reported_and_the_run_exits_1(tmp_path: Path):
    root = tmp_path / "src"
    readable = write_archive(root, 4, min_size=1_000, max_size=3_000)
    for folder, name in [
        ("locked", "G-901 Locked One.pdf"),
        ("locked", "G-902 Locked Two.pdf"),
        ("locked/deeper", "G-903 Deeper.pdf"),
        ("noenter", "G-904 Behind.pdf"),  # the folder can be listed, not entered
        ("lost+found", "G-905 Left Out.pdf"),  # unreadable too, but excluded on purpose
        (".", "G-906 Sealed.pdf"),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_bytes(pdf_bytes(900, seed=len(name)))
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        config = tmp_path / "bulkimport.toml"
        raw = config_dict(emu, root)
        raw["source"]["exclude"] = ["lost+found/**"]
        write_config(config, raw)
        report = tmp_path / "report.json"
        with modes(
            (root / "locked", 0o000),
            (root / "noenter", 0o444),
            (root / "lost+found", 0o000),
            (root / "G-906 Sealed.pdf", 0o000),
        ):
            code, plan, _ = await run_cli(
                ["run", "--config", str(config), "--dry-run"], run_env(secret=None)
            )
            assert code == 0
            assert f"invalid   locked/  ({LOCKED})" in plan
            assert f"invalid   noenter/G-904 Behind.pdf  ({BEHIND})" in plan
            assert f"invalid   G-906 Sealed.pdf  ({SEALED})" in plan
            assert "lost+found" not in plan

            code, summary, err = await run_cli(
                ["run", "--config", str(config), "--report", str(report), "--no-progress"],
                run_env(),
            )
        assert code == 1, err
        assert f"NOT IMPORTED locked/: {LOCKED}" in summary
        assert f"NOT IMPORTED noenter/G-904 Behind.pdf: {BEHIND}" in summary
        assert f"NOT IMPORTED G-906 Sealed.pdf: {SEALED}" in summary
        assert "lost+found" not in summary
        files = {e["path"]: e for e in json.loads(report.read_text())["files"]}
        expected = {p.relative_to(root).as_posix() for p in readable}
        expected |= {"locked/", "noenter/G-904 Behind.pdf", "G-906 Sealed.pdf"}
        assert set(files) == expected
        for path in ("locked/", "noenter/G-904 Behind.pdf", "G-906 Sealed.pdf"):
            assert (files[path]["action"], files[path]["state"]) == ("invalid", "failed")
        assert files["locked/"]["note"] == LOCKED
        arrived = {p for p, e in files.items() if e["state"] in ("imported", "verified")}
        assert arrived == {p.relative_to(root).as_posix() for p in readable}
        assert len(emu.world.uploads) == len(readable)  # nothing else was sent

        # An imported file touched since, now unreadable: whether its bytes changed cannot be
        # known, so it is reported, not taken as unchanged, and the run does not stop.
        touched = readable[0]
        os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
        with modes((root / "locked", 0o000), (touched, 0o000)):
            code, summary, err = await run_cli(["run", "--config", str(config)], run_env())
        assert code == 1, err
        assert f"NOT IMPORTED {touched.name}: {SEALED}" in summary
        assert f"NOT IMPORTED locked/: {LOCKED}" in summary
        assert "Traceback" not in err
        sent = [u.response_filename for u in emu.world.uploads.values()]
        assert sent.count(touched.name) == 1  # the first run's upload only
        assert not any(name and "Locked" in name for name in sent)

        with modes((root, 0o000)):
            code, out, err = await run_cli(["run", "--config", str(config)], run_env())
        assert code == 2
        assert f"the source root {root} cannot be read (Permission denied)" in err
        assert "give the account read access to it" in err
        assert out == ""
