# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes and durations as a person reads them. Its own module so that the hourly job's text (a disk forecast)
does not import the database job's evaluators or the HTML page to print "1.2 GB", and the check registry's
database entries can print "35min" without importing the evaluators that import them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def human_bytes(value):
    value = float(value or 0)
    for unit in ('B', 'kB', 'MB', 'GB', 'TB'):
        if abs(value) < 1024 or unit == 'TB':
            return ('%d %s' % (value, unit)) if unit == 'B' else ('%.1f %s' % (value, unit))
        value /= 1024.0
    return '%.1f TB' % value


def human_seconds(value):
    value = float(value or 0)
    if value < 120:
        return '%ds' % value
    if value < 7200:
        return '%dmin' % (value // 60)
    if value < 2 * 86400:
        return '%.1fh' % (value / 3600)
    return '%.1fd' % (value / 86400)
