"""Waits until an exporter's /-/ready answers 200 and prints the nanoseconds since it started.

Usage: ready.py URL STARTED_NS LIMIT_NS SPARSE_UNTIL_NS STEP_SECONDS

One process asking over one kept-alive connection: every 0.2 s until SPARSE_UNTIL_NS after
the start (it cannot be ready sooner), then every STEP_SECONDS. Forking curl and sleep every
few milliseconds would cost a two-core machine more CPU than the start-up it times. Exits 1
when not ready LIMIT_NS after the start.
"""
import http.client
import sys
import time
import urllib.parse

url, started, limit, sparse_until, step = sys.argv[1], *map(int, sys.argv[2:5]), float(sys.argv[5])
u = urllib.parse.urlsplit(url)
conn = None
while True:
    t = time.time_ns() - started
    if t > limit:
        sys.exit(1)
    try:
        if conn is None:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        conn.request("GET", "/-/ready")
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            print(time.time_ns() - started)
            sys.exit(0)
    except (OSError, http.client.HTTPException):
        conn = None
    time.sleep(0.2 if t < sparse_until else step)
