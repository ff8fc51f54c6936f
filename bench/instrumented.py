"""`python -m bench.instrumented <order-engine args>`: an engine process that counts its JSON work.

For the cost-per-order measurement only (it slows the process several times over): a profile hook
counts every JSON encode and decode — msgspec's (Encoder.encode, msgspec.json.encode, and decodes)
and the standard library's json.dumps / json.loads — by the file that called it. SIGUSR1 writes the
counts so far to $BENCH_COUNTS_FILE.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter
from typing import Any

COUNTS: Counter[str] = Counter()


def _site(frame: Any) -> str:
    if frame is None:
        return "?"
    path = frame.f_code.co_filename
    for marker in ("site-packages/", "/src/"):
        i = path.rfind(marker)
        if i >= 0:
            return path[i + len(marker) :]
    return os.path.basename(path)


def _install() -> None:
    import msgspec

    encoder, decoder = msgspec.json.Encoder, msgspec.json.Decoder
    c_funcs = {msgspec.json.encode: "encode msgspec", msgspec.json.decode: "decode msgspec"}
    py_codes = {json.dumps.__code__: "encode json.dumps", json.loads.__code__: "decode json.loads"}

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            name = c_funcs.get(arg)
            if name is None:
                owner = type(getattr(arg, "__self__", None))
                if owner is encoder and arg.__name__ == "encode":
                    name = "encode msgspec"
                elif owner is decoder and arg.__name__ == "decode":
                    name = "decode msgspec"
                else:
                    return
            COUNTS[f"{name} <- {_site(frame)}"] += 1
        elif event == "call":
            name = py_codes.get(frame.f_code)
            if name is not None:
                COUNTS[f"{name} <- {_site(frame.f_back)}"] += 1

    sys.setprofile(hook)
    threading.setprofile(hook)


def _dump(*_: object) -> None:
    path = os.environ["BENCH_COUNTS_FILE"]
    with open(path + ".tmp", "w") as f:
        json.dump(dict(COUNTS), f)
    os.replace(path + ".tmp", path)


def main() -> int:
    # Import the engine first, so only the work is counted, not the imports.
    import order_engine.app.http.app  # noqa: F401
    import order_engine.app.worker.jobs  # noqa: F401
    from order_engine.app.cli import main as cli_main

    signal.signal(signal.SIGUSR1, _dump)
    _install()
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
