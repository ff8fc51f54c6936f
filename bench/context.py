"""What every scenario gets: the backing servers, where logs go, quick or full, a progress printer."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack import Backing, Stack


@dataclass
class Context:
    backing: Backing
    log_dir: Path
    quick: bool
    stacks: list[Stack] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    # The A/B: every engine batch this size on both sides (a batch sized from each side's own pilot would divide
    # the processes' idle CPU by different Ns, and a slower side would look costlier per order than it is).
    fixed_batch: int | None = None

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)
