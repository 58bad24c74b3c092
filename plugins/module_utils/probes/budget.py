# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One time budget shared by the network probes of an hourly run, and a bounded thread runner.

The hourly ``alerts`` run must stay quick however many endpoints hang: every
probe gets ``min(its own timeout, what is left of the budget)`` and all probes
of a round run at once, so N hanging endpoints cost about one timeout.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

DEFAULT_PROBE_BUDGET = 10.0
MAX_PROBE_BUDGET = 300.0
# Kept back from each probe's timeout so that the wait for its thread still ends inside the budget.
GRACE = 0.25
# Below this there is no point in opening a connection: the probe is reported as not run.
MIN_PROBE_SECONDS = 0.05


class Budget:
    """``Budget(10)``: ten seconds from now, shared by every probe that is handed this object."""

    def __init__(self, seconds=DEFAULT_PROBE_BUDGET, clock=time.monotonic):
        self.seconds = float(seconds)
        self._clock = clock
        self._started = clock()

    def elapsed(self):
        return self._clock() - self._started

    def remaining(self):
        """Seconds left (never below 0)."""
        return max(0.0, self.seconds - self.elapsed())

    def timeout(self, own):
        """What a probe with its own ``own`` timeout may use now: the smaller of the two, GRACE kept back."""
        return max(0.0, min(float(own), self.remaining() - GRACE))


class NotRun(object):
    """Marker result of a job that had no time (budget spent) or did not finish before its deadline."""

    def __init__(self, reason, seconds):
        self.reason = reason
        self.seconds = seconds


def _work(function, timeout, slot):
    try:
        slot['result'] = function(timeout)
    except Exception as exc:  # a probe bug must not take the other checks with it
        slot['error'] = '%s: %s' % (type(exc).__name__, exc)


def run_concurrently(jobs, budget):
    """Run every job in its own daemon thread and wait no longer than the budget allows.

    ``jobs``: ``{key: (own_timeout, function)}``; ``function(timeout)`` does
    its I/O within ``timeout`` seconds and returns a result.  Returns
    ``{key: result}``, or a :class:`NotRun` for a job that got no time or
    was still running at its deadline (a name lookup or a server that
    trickles bytes is not bounded by socket timeouts).  Such a thread is
    abandoned; being a daemon, it never holds the process at exit.
    """
    results = {}
    threads = []
    started = time.monotonic()
    for key in sorted(jobs, key=str):
        own, function = jobs[key]
        timeout = budget.timeout(own)
        if timeout < MIN_PROBE_SECONDS:
            results[key] = NotRun('not run: the probe budget of %gs was spent' % budget.seconds, 0.0)
            continue
        slot = {}
        thread = threading.Thread(target=_work, args=(function, timeout, slot), name='twzrd-probe-%s' % (key,))
        thread.daemon = True
        thread.start()
        threads.append((key, thread, slot, timeout))
    for key, thread, slot, timeout in threads:
        thread.join(max(0.0, started + timeout + GRACE - time.monotonic()))
        found = dict(slot)  # a late write by an abandoned thread is not read
        if 'result' in found:
            results[key] = found['result']
        elif 'error' in found:
            results[key] = NotRun('probe failed: %s' % found['error'], round(time.monotonic() - started, 3))
        else:
            results[key] = NotRun('no complete answer within %gs' % round(timeout, 3), timeout)
    return results
