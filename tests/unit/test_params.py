from ansible_collections.twzrd.ops.plugins.module_utils.core import params


def test_threshold_pair_ok():
    assert params.threshold_pair_errors({'w': 20.0, 'c': 80.0}, 'w', 'c', 0, 100) == []


def test_threshold_pair_names_the_parameter():
    errors = params.threshold_pair_errors({'swap_warning': -1.0, 'swap_critical': 80.0},
                                          'swap_warning', 'swap_critical', 0, 100)
    assert errors == ['swap_warning must be >= 0, got -1.0']
    errors = params.threshold_pair_errors({'swap_warning': 90.0, 'swap_critical': 80.0},
                                          'swap_warning', 'swap_critical', 0, 100)
    assert errors == ['swap_warning (90.0) must be lower than swap_critical (80.0)']
    errors = params.threshold_pair_errors({'disk_warning': 85.0, 'disk_critical': 120.0},
                                          'disk_warning', 'disk_critical', 0, 100)
    assert errors == ['disk_critical must be <= 100, got 120.0']


def test_equal_thresholds_are_rejected():
    assert params.threshold_pair_errors({'w': 8.0, 'c': 8.0}, 'w', 'c') == ['w (8.0) must be lower than c (8.0)']


def test_unset_critical_is_fine():
    assert params.threshold_pair_errors({'crash_warning': 0, 'crash_critical': None},
                                        'crash_warning', 'crash_critical') == []


def test_regex_errors():
    assert params.regex_errors({'p': ['ok', '(?i)error']}, 'p') == []
    errors = params.regex_errors({'p': ['(unclosed']}, 'p')
    assert len(errors) == 1 and errors[0].startswith("p: '(unclosed' is not a valid regular expression")


def test_minimum_errors():
    assert params.minimum_errors({'report_days': 0, 'x': None}, ['report_days', 'x'], 1) == \
        ['report_days must be >= 1, got 0']
