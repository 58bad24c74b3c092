# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cron jobs the install role sets up, in one place: which module runs each, and its kind.

Standard library only and no imports: the cron runner (roles/install/files/twzrd_run.py) carries a
generated copy of these names (scripts/gen_runner_shared.py; tests/unit/test_runner_shared.py fails
when that copy is stale), and report/sinks.py and twzrd_notify read them from here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

ALERTS_KIND = 'alerts'     # tell a person about changes only
REPORT_KIND = 'report'     # every run is a message (weekly report, vacuum report)

# job -> (module, kind, tracked per database (login_db) like the db modules do)
JOBS = {
    'alerts': ('twzrd_health', ALERTS_KIND, False),
    'health': ('twzrd_health', REPORT_KIND, False),
    'db_health': ('twzrd_db_health', ALERTS_KIND, True),
    'db_alerts': ('twzrd_db_health', ALERTS_KIND, True),   # db_health's acute checks, hourly (scope=acute)
    'vacuum': ('twzrd_vacuum', REPORT_KIND, True),
    'restart': ('pm2_restart', ALERTS_KIND, False),
}
KNOWN_JOBS = ('alerts', 'health', 'db_health', 'db_alerts', 'vacuum', 'restart')   # the role's order
JOB_MODULES = dict((job, JOBS[job][0]) for job in KNOWN_JOBS)
REPORT_JOBS = tuple(job for job in KNOWN_JOBS if JOBS[job][1] == REPORT_KIND)
DB_JOBS = tuple(job for job in KNOWN_JOBS if JOBS[job][2])

# A job whose alerts another job also judges keeps them in that job's tracking (report/sinks.py): db_alerts
# looks hourly at some of db_health's checks, and one alert history for both means a condition is told
# once, and one job's run never resolves what only the other one looks at.
TRACKED_WITH = {'db_alerts': 'db_health'}


def tracking_job(job):
    """The job whose alert history ``job``'s runs use."""
    return TRACKED_WITH.get(job, job)


def last_success_field(job):
    """Where a history keeps ``job``'s last success: a shared one keeps each job's (db_alerts' beside db_health's)."""
    return 'last_success_%s' % job if job in TRACKED_WITH else 'last_success'
