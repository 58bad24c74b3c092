# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network probes of the hourly run: ``http`` (http_check.py) and ``postgres`` (postgres_ping.py).

Both share one :class:`~.budget.Budget`; :func:`collect_all` runs every
probe of both checks in one concurrent round, so the two together cost about
the longest single timeout and never more than the budget.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.twzrd.ops.plugins.module_utils.probes import http_check, postgres_ping
from ansible_collections.twzrd.ops.plugins.module_utils.probes.budget import Budget, run_concurrently


def collect_all(http_checks, postgres_ping_options, budget):
    """``{'http': http_check.collect(...) shape, 'postgres': postgres_ping.collect(...) shape}`` in one round.

    ``http_checks``: normalized (http_check.normalize); ``postgres_ping_options``: the module's
    ``postgres_ping`` value (None = disabled); ``budget``: a Budget started when the run began.
    """
    jobs = dict(http_check.jobs(http_checks or {}))
    jobs.update(postgres_ping.jobs(postgres_ping_options))
    outcomes = run_concurrently(jobs, budget) if jobs else {}
    return {'http': http_check.results(http_checks or {}, outcomes),
            'postgres': postgres_ping.results(postgres_ping_options, outcomes)}


__all__ = ['Budget', 'collect_all', 'http_check', 'postgres_ping']
