# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Capacity forecasts (plugins/module_utils/checks/forecast.py, docs/report.md).
    DOCUMENTATION = r'''
options:
  forecast_days:
    description:
      - The capacity forecast fits a least-squares line through the samples of this many last days
        (Prometheus' C(predict_linear) idea) and extends it until the volume is full. Between 1 and 90.
      - No forecast, and no alert, from too few samples, a flat or shrinking series; a cleanup (a drop of more
        than 1 % of the capacity) starts the series again after it.
    type: int
    default: 7
  forecast_warning_days:
    description: Warn when the volume is projected to be full within this many days.
    type: float
    default: 14
  forecast_critical_days:
    description: The forecast alert is critical when the volume is projected to be full within this many days.
    type: float
    default: 3
'''
