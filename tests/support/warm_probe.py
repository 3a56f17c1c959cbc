"""A stand-in worker for tests/unit/test_warm.py: says what it was started with, then sleeps or exits."""

import json
import os
import sys
import time

if __name__ == "__main__":
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "path0": sys.path[0], "pid": os.getpid(),
                      "ppid": os.getppid(), "probe": os.environ.get("PROBE"),
                      "preloaded": "email.mime.text" in sys.modules}), flush=True)
    print("probe stderr", file=sys.stderr, flush=True)
    time.sleep(float(args.get("--sleep", 0)))
    sys.exit(int(args.get("--exit", 0)))
