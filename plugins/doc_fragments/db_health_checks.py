# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# generated from the check registry (plugins/module_utils/checks/) by scripts/generate.py, do not edit

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The threshold options of the twzrd_db_health checks in the check registry.
    DOCUMENTATION = r'''
options:
  connections_warning_pct:
    description:
      - Warn when client connections exceed this percentage of C(max_connections).
      - Between 0 and 100.
    type: float
    default: 80.0
  connections_critical_pct:
    description:
      - Critical when client connections exceed this percentage of C(max_connections).
      - Between 0 and 100.
    type: float
    default: 95.0
  transaction_age_warning:
    description:
      - Warn when any other session's transaction has been open longer than this many seconds.
      - Between 0 and 31536000.
    type: float
    default: 3600.0
  transaction_age_critical:
    description:
      - Critical for transactions open longer than this many seconds. Unset means never critical.
      - Between 0 and 31536000.
    type: float
  idle_in_transaction_warning:
    description:
      - Warn when a session has been idle in transaction longer than this many seconds.
      - Between 0 and 31536000.
    type: float
    default: 600.0
  growth_warning_pct_per_day:
    description:
      - Warn when a database grows faster than this percentage per day since an earlier run.
      - Growth needs a size sample at least one hour old in the state file.
      - Between 0 and 1000000.
    type: float
    default: 10.0
  growth_warning_bytes_per_day:
    description:
      - Warn when a database grows by more than this many bytes per day. Unset disables it.
    type: int
  dead_rows_warning:
    description:
      - Warn for each table with more dead rows than this.
      - At least 0.
    type: int
    default: 100000
  top_tables:
    description:
      - How many tables to list in the worst-dead-rows and largest-tables metrics.
    type: int
    default: 10
  wraparound_warning:
    description:
      - Warn when a database's transaction ID age (age of datfrozenxid) exceeds this.
      - Between 0 and 2147483647.
    type: int
    default: 1000000000
  wraparound_critical:
    description:
      - Critical when a database's transaction ID age exceeds this.
      - Between 0 and 2147483647.
    type: int
    default: 1500000000
  latency_warning_ms:
    description:
      - Warn when the median round trip of a trivial query exceeds this many milliseconds.
      - Between 0 and 3600000.
    type: float
    default: 50.0
  latency_critical_ms:
    description:
      - Critical when the median round trip exceeds this many milliseconds. Unset means never critical.
      - Between 0 and 3600000.
    type: float
  latency_samples:
    description:
      - How many trivial queries to time for the median.
    type: int
    default: 5
  long_query_warning:
    description:
      - Warn when another session's query has been running longer than this many seconds (since its C(query_start)).
      - Between 0 and 31536000.
    type: float
    default: 300.0
  long_query_critical:
    description:
      - Critical for queries running longer than this many seconds.
      - Between 0 and 31536000.
    type: float
    default: 1800.0
  lock_wait_warning:
    description:
      - Warn when a session has waited for a lock longer than this many seconds (since C(pg_locks.waitstart) on
        PostgreSQL 14 and later, else since the waiting statement started).
      - Between 0 and 31536000.
    type: float
    default: 60.0
  lock_wait_critical:
    description:
      - Critical for lock waits longer than this many seconds (everything that needs the same lock queues behind
        the waiter).
      - Between 0 and 31536000.
    type: float
    default: 300.0
  archive_ready_warning:
    description:
      - Warn when the oldest WAL segment waiting for the archiver (a C(.ready) file in C(pg_wal/archive_status))
        is older than this many seconds.
      - Read only by a role that may call the function C(pg_ls_archive_statusdir) (superuser or C(pg_monitor));
        a failing C(archive_command) is critical whatever this says.
      - Between 0 and 31536000.
    type: float
    default: 600.0
  slot_wal_warning:
    description:
      - Warn when an inactive replication slot retains more WAL than this many bytes (the current WAL position minus
        its C(restart_lsn), on a primary).
      - At least 0.
    type: int
    default: 1073741824
  slot_wal_critical:
    description:
      - Critical when an inactive replication slot retains more WAL than this many bytes. Unset means never critical
        by size (a slot whose C(wal_status) is C(lost) or C(unreserved) is critical anyway).
      - At least 0.
    type: int
  replay_lag_warning:
    description:
      - On a standby, warn when replay lags more than this many seconds behind the primary (now minus C(pg_last_xact_replay_timestamp))
        while received WAL waits to be replayed.
      - With everything received replayed (an idle primary) there is no lag.
    type: float
    default: 300.0
  replay_lag_critical:
    description:
      - On a standby, critical when replay lags more than this many seconds. Unset means never critical.
    type: float
  sequence_warning_pct:
    description:
      - Warn when a sequence has used more than this percentage of its column type's maximum (or of its own maximum,
        when that comes first).
      - Between 0 and 100.
    type: float
    default: 75.0
  sequence_critical_pct:
    description:
      - Critical when a sequence has used more than this percentage of its column type's maximum.
      - Between 0 and 100.
    type: float
    default: 90.0
'''
