"""A real PostgreSQL server for the checkpoint-store tests: Debian's postgresql, started in a
temporary folder by the fixture (as the ``postgres`` user when the tests run as root) and
stopped by its PID."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://gwa@127.0.0.1:PORT/postgres`` of a server this fixture owns."""
    bindir = _bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    # Not under pytest's folder: the postgres user cannot enter root's private temp folders.
    root = Path(tempfile.mkdtemp(prefix="gwa-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        shutil.chown(root, user)
    data = root / "data"
    subprocess.run(
        [bindir / "initdb", "-D", data, "-U", "gwa", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        user=user,
    )
    port = _free_port()
    log = (root / "log").open("w")
    proc = subprocess.Popen(
        [bindir / "postgres", "-D", data, "-k", root, "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
        stdout=log, stderr=subprocess.STDOUT, user=user,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"postgres did not start: {(root / 'log').read_text()[-500:]}")
                time.sleep(0.1)
        time.sleep(0.3)  # accepting TCP precedes accepting logins by a moment
        yield f"postgresql://gwa@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
