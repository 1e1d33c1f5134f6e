"""A command run under a pseudo-terminal (python's ``pty``): read its prompts, type answers."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    """``tandem ARGS`` in a pseudo-terminal of its own (its controlling terminal, so ``getpass`` reads it)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: become the command
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "ops.cli", *args], env)
        self.pid, self.fd = pid, fd
        self.seen = ""
        self.position = 0

    def expect(self, text: str, timeout: float = 90.0) -> str:
        """Wait until ``text`` appears after what was read so far; return everything up to it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen[self.position:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} after {timeout} s; the terminal shows:\n{self.seen[-3000:]}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the command ended
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the command ended before {text!r}:\n{self.seen[-3000:]}")
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
        end = self.seen.index(text, self.position) + len(text)
        before, self.position = self.seen[self.position:end], end
        return before

    def answer(self, prompt: str, line: str) -> str:
        """Wait for ``prompt``, then type ``line`` and Enter; return what was shown up to the prompt."""
        shown = self.expect(prompt)
        os.write(self.fd, line.encode() + b"\n")
        return shown

    def wait(self, timeout: float = 120.0) -> int:
        """Read the rest of the output until the command exits; return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        raise AssertionError(f"the command did not end in {timeout} s:\n{self.seen[-3000:]}")
