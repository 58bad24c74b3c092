# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A week in one line of text, where text is all there is (make run, chat, the log). Pure."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

BARS = u'\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588'
GAP = u' '
HEADING = 'the week, '  # the summary line that introduces the sparklines


def bucket_max(points, start, end, width):
    """The highest value in each of ``width`` equal time slices of [start, end); None where there is none."""
    buckets = [None] * width
    span = float(end - start) or 1.0
    for t, value in points:
        if start <= t < end:
            index = min(width - 1, int((t - start) * width / span))
            if buckets[index] is None or value > buckets[index]:
                buckets[index] = value
    return buckets


def sparkline(values, low=0.0, high=None):
    """``▁▂▅█`` for ``values`` scaled from ``low`` to ``high`` (default: their maximum); None is a gap."""
    present = [v for v in values if v is not None]
    if not present:
        return ''
    top = max(present) if high is None else high
    span = float(top - low)
    chars = []
    for value in values:
        if value is None:
            chars.append(GAP)
        elif span <= 0:
            chars.append(BARS[0])
        else:
            share = min(1.0, max(0.0, (value - low) / span))
            chars.append(BARS[min(len(BARS) - 1, int(share * len(BARS)))])
    return u''.join(chars)


def week_line(label, points, start, end, width=42, unit=''):
    """``load  ▁▁▂▅█▃▁  max 3.20`` over [start, end) in ``width`` slices (a slice of 4 h for a week)."""
    buckets = bucket_max(points, start, end, width)
    present = [v for v in buckets if v is not None]
    if not present:
        return u'%-5s (no samples yet)' % label
    return u'%-5s %s  max %s%s' % (label, sparkline(buckets), ('%.2f' % max(present)).rstrip('0').rstrip('.'), unit)
