#!/usr/bin/env python3
"""Send lateness of any load generator, measured from outside: the instants of its request
writes in a `perf trace -e write,sendto` log, against an even schedule.

    send_lateness.py TRACE [RATE]

The requests are the writes of the most common size (not eventfd wake-ups, logs or a report).
The first tenth of them is skipped (connection set-up). Two figures, each anchored so that the
earliest write is on time (lateness >= 0):
- per socket: each connection's writes against an even schedule at that connection's own
  mean rate: what a generator that schedules per connection (wrk2) means to do;
- whole run: all writes against one even schedule at RATE (or their mean rate): what an
  open-model arrival process asks for.
Used by `scripts/bench.sh sends`; numbers in docs/benchmarks.md."""
import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"\s*([\d.]+)\s+\(\s*[\d.]+ ms\):\s+\S+\s+(write|sendto)\(fd: (\d+),.*\)\s+=\s+(\d+)")


def lateness(ts, period):
    t0 = min(t - i * period for i, t in enumerate(ts))
    return [t - t0 - i * period for i, t in enumerate(ts)]


def summary(late):
    late = sorted(late)
    pick = lambda q: late[min(len(late) - 1, int(q * len(late)))]
    return "p50 %.3f p99 %.3f max %.3f ms" % (pick(0.5), pick(0.99), late[-1])


def main():
    trace = sys.argv[1]
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    rows = [(float(m[1]), int(m[3]), m[4]) for m in map(LINE.match, open(trace)) if m]
    if not rows:
        sys.exit("no write or sendto calls in %s" % trace)
    size = Counter(n for _, _, n in rows).most_common(1)[0][0]
    sends = [(t, fd) for t, fd, n in rows if n == size]
    sends = sends[len(sends) // 10:]
    per_socket, by_fd = [], defaultdict(list)
    for t, fd in sends:
        by_fd[fd].append(t)
    for ts in by_fd.values():
        if len(ts) >= 2:
            per_socket += lateness(ts, (ts[-1] - ts[0]) / (len(ts) - 1))
    ts = [t for t, _ in sends]
    period = 1000.0 / rate if rate > 0 else (ts[-1] - ts[0]) / (len(ts) - 1)
    print("sends=%d sockets=%d per-socket %s; whole-run %s" % (
        len(ts), len(by_fd), summary(per_socket), summary(lateness(ts, period))))


if __name__ == "__main__":
    main()
