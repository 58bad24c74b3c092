"""A bounded HTTP request loop against 127.0.0.1, to count requests failed during a reload.

Used by tests/integration/test_pm2_restart.py and bench/bench_restart.py.
Bounded in count and in time so it can never run away; one new connection
per request (no keep-alive), so every request is routed afresh.
"""
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RequestLoop(threading.Thread):
    def __init__(self, url, max_requests=20000, max_seconds=60.0, timeout=2.0):
        threading.Thread.__init__(self, daemon=True)
        host = urllib.parse.urlparse(url).hostname
        if host != '127.0.0.1':
            raise ValueError('the request loop only talks to 127.0.0.1, not %s' % host)
        self.url = url
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.stop_event = threading.Event()
        self.ok = 0
        self.failed = 0
        self.errors = []
        self.bodies = set()
        self.latencies = []
        self.seconds = 0.0

    def run(self):
        started = time.monotonic()
        while (not self.stop_event.is_set() and self.ok + self.failed < self.max_requests
               and time.monotonic() - started < self.max_seconds):
            t0 = time.monotonic()
            try:
                with _OPENER.open(self.url, timeout=self.timeout) as response:
                    body = response.read().decode('utf-8', 'replace').strip()
                    status = response.getcode()
            except (urllib.error.URLError, OSError) as exc:
                self.failed += 1
                self.errors.append('%s (request sent at +%.2fs)' % (str(exc)[:200], t0 - started))
                continue
            self.latencies.append(time.monotonic() - t0)
            if status == 200:
                self.ok += 1
                self.bodies.add(body)
            else:
                self.failed += 1
                self.errors.append('HTTP %s (request sent at +%.2fs)' % (status, t0 - started))
        self.seconds = time.monotonic() - started

    def stop(self):
        self.stop_event.set()
        self.join(self.max_seconds + self.timeout + 5)
        return self

    def summary(self):
        lat = sorted(self.latencies)

        def pct(q):
            return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else None
        total = self.ok + self.failed
        return {'requests': total, 'ok': self.ok, 'failed': self.failed,
                'seconds': round(self.seconds, 3),
                'requests_per_second': round(total / self.seconds, 1) if self.seconds else None,
                'p50_ms': pct(0.50), 'p99_ms': pct(0.99), 'max_ms': pct(1.0),
                'distinct_responders': len(self.bodies), 'first_errors': self.errors[:5]}
