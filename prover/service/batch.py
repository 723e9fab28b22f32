"""`prover check` without the CLI: check a stream of proofs, write one verdict line each, in input order.

The verdict file is append-only JSONL; each line goes out in one `write` on an O_APPEND descriptor and is fsynced,
so that a kill leaves whole lines and at most one torn last line. Lines are written in input order (results that
finish early wait for the ones before them), so the file is always a prefix of the run: `--resume` drops a torn
last line, checks that the lines it kept are the input's first ids, and skips exactly those. Nothing is lost and
nothing is checked twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prover.errors import UsageError
from prover.service.checker import Checker, CheckResult
from prover.service.inputs import ProofItem

logger = logging.getLogger(__name__)


class VerdictWriter:
    """Appends verdict lines to a JSONL file (or nowhere, with path None), one atomic write each."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, result: CheckResult) -> None:
        if self._fd is None:
            return
        data = (json.dumps(result.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def load_done(path: Path) -> list[CheckResult]:
    """The complete verdict lines of an earlier run; a torn last line (a kill mid-write) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        logger.warning("%s: dropping a torn last line (%d bytes) left by a kill", path, len(data) - keep)
        with path.open("r+b") as stream:
            stream.truncate(keep)
    done = []
    for number, line in enumerate(data[:keep].decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            done.append(CheckResult.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{number} is not a verdict line ({exc}); not resuming over it") from None
    return done


@dataclass
class BatchSummary:
    """Counts of a batch run: verdict → number of proofs (resumed lines included)."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    def add(self, result: CheckResult) -> None:
        self.counts[result.verdict] = self.counts.get(result.verdict, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def verified(self) -> int:
        return self.counts.get("verified", 0)


async def run_batch(
    items: Iterable[ProofItem],
    checker: Checker,
    writer: VerdictWriter,
    *,
    done: list[CheckResult] = (),  # type: ignore[assignment]
    on_result: Callable[[CheckResult], None] | None = None,
) -> BatchSummary:
    """Check `items` with up to `checker.workers` in flight; write each verdict in input order.

    `done` holds the verdicts of an earlier run of the same input (from `load_done`): the first len(done) items
    must carry the same ids and are skipped. Raises UsageError when they do not match.
    """
    summary = BatchSummary()
    stream: Iterator[ProofItem] = iter(items)
    for index, old in enumerate(done):
        item = next(stream, None)
        if item is None or item.id != old.id:
            got = "the end of the input" if item is None else repr(item.id)
            raise UsageError(f"--resume: verdict line {index + 1} is for {old.id!r} but the input has {got} there")
        summary.add(old)
        summary.skipped += 1
    window = max(2, 4 * checker.workers)  # bounded look-ahead: a huge input is never held in memory whole
    pending: dict[int, asyncio.Task[CheckResult]] = {}
    next_index, next_out = 0, 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window:
                item = next(stream, None)
                if item is None:
                    exhausted = True
                    break
                pending[next_index] = asyncio.ensure_future(checker.check(item))
                next_index += 1
            if not pending:
                break
            head = pending[next_out]
            if not head.done():
                await asyncio.wait(pending.values(), return_when=asyncio.FIRST_COMPLETED)
            while next_out in pending and pending[next_out].done():
                result = pending.pop(next_out).result()
                next_out += 1
                writer.write(result)
                summary.add(result)
                if on_result is not None:
                    on_result(result)
    finally:
        for task in pending.values():
            task.cancel()
        await asyncio.gather(*pending.values(), return_exceptions=True)
    return summary
