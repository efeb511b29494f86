"""The local backend's worker: ``python -m modelyard.compute.worker TASK RESULT``.

Reads the caller's ``sys.path`` and ``(function, argument)`` from TASK (written by
:mod:`modelyard.compute.local` in this machine's temporary directory), runs it and writes
``("ok", value)`` or ``("error", exception)`` to RESULT. An exception that cannot be sent back
is replaced by one carrying its type and message.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from pathlib import Path


def main(task_path: str, result_path: str) -> int:
    paths, payload_bytes = pickle.loads(Path(task_path).read_bytes())
    sys.path[:] = [p for p in paths if p not in sys.path] + sys.path
    fn, arg = pickle.loads(payload_bytes)
    try:
        payload: tuple[str, object] = ("ok", fn(arg))
    except BaseException as exc:  # send back everything, including KeyboardInterrupt
        traceback.print_exc()
        payload = ("error", exc)
    try:
        data = pickle.dumps(payload)
    except Exception as exc:  # an exception or result that does not pickle
        data = pickle.dumps(("error", RuntimeError(f"{payload[1]!r} (not picklable: {exc})")))
    tmp = Path(result_path + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(result_path)
    return 0 if payload[0] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
