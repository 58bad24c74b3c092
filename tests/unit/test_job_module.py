"""Every module uses the one skeleton (plugins/module_utils/core/job_module.py) with the same names."""
import inspect

import pytest

from ansible_collections.twzrd.ops.plugins.modules import (
    pm2_restart, twzrd_db_health, twzrd_health, twzrd_notify, twzrd_vacuum)
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import report_argument_spec

MODULES = [pm2_restart, twzrd_db_health, twzrd_health, twzrd_notify, twzrd_vacuum]


def defaults(spec):
    return dict((name, option.get('default')) for name, option in spec.items())


@pytest.mark.parametrize('module', MODULES, ids=lambda m: m.__name__.rsplit('.', 1)[1])
def test_one_skeleton(module):
    assert isinstance(module.ARGUMENT_SPEC, dict) and isinstance(module.BOUNDS, dict)
    assert set(report_argument_spec()) <= set(module.ARGUMENT_SPEC)
    assert set(module.BOUNDS) <= set(module.ARGUMENT_SPEC)
    assert 'job_module.start(ARGUMENT_SPEC, parameter_errors' in inspect.getsource(module.main)
    assert not hasattr(module, 'argument_spec') and not hasattr(module, 'param_errors')


@pytest.mark.parametrize('module', [m for m in MODULES if m.BOUNDS], ids=lambda m: m.__name__.rsplit('.', 1)[1])
def test_parameter_errors_hold_the_bounds_and_the_report_options(module):
    params = defaults(module.ARGUMENT_SPEC)
    assert module.parameter_errors(params) == []
    name = sorted(module.BOUNDS)[0]
    low, high = module.BOUNDS[name]
    params[name] = (high or 10 ** 12) * 10 + 1
    params['report_keep'] = 0
    said = '; '.join(module.parameter_errors(params))
    assert name in said and 'report_keep' in said, said
