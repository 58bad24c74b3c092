"""twzrd.ops.prometheus_targets: the inventory as file_sd target groups (pure; the playbook and a real
Prometheus reading the file: tests/integration/test_prometheus_targets.py)."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.twzrd.ops.plugins.filter.prometheus_targets import prometheus_targets

HOSTVARS = {
    'web1': {'ansible_host': '10.0.0.1', 'group_names': ['web']},
    'db1': {'ansible_host': '10.0.0.2', 'group_names': ['web', 'db'], 'twzrd_exporter_port': 9200,
            'twzrd_exporter_labels': {'env': 'prod', 'rack': 3}},
    'lonely': {'group_names': [], 'twzrd_exporter_address': 'lonely.internal'},
}


def test_one_group_per_host_with_its_address_port_and_labels():
    assert prometheus_targets(HOSTVARS, ['web1', 'db1', 'lonely']) == [
        {'targets': ['10.0.0.1:9100'], 'labels': {'instance': 'web1', 'groups': ',web,'}},
        {'targets': ['10.0.0.2:9200'], 'labels': {'instance': 'db1', 'groups': ',db,web,', 'env': 'prod', 'rack': '3'}},
        {'targets': ['lonely.internal:9100'], 'labels': {'instance': 'lonely', 'groups': ''}},
    ]


def test_the_default_port_and_the_variable_names_can_be_changed():
    hostvars = {'h': {'my_port': '9300', 'my_addr': 'h.example'}}
    assert prometheus_targets(hostvars, ['h'], port=1, address_var='my_addr', port_var='my_port') == [
        {'targets': ['h.example:9300'], 'labels': {'instance': 'h', 'groups': ''}}]
    assert prometheus_targets({'h': {}}, ['h'], port=9999)[0]['targets'] == ['h:9999']


@pytest.mark.parametrize('hostvars, hosts, words', [
    ({'h': {'twzrd_exporter_port': 70000}}, ['h'], ['twzrd_exporter_port of host h', '1-65535', '70000']),
    ({'h': {'twzrd_exporter_port': 'http'}}, ['h'], ['twzrd_exporter_port of host h']),
    ({'h': {'twzrd_exporter_port': True}}, ['h'], ['twzrd_exporter_port of host h']),
    ({'h': {'twzrd_exporter_labels': {'__name__': 'x'}}}, ['h'], ['twzrd_exporter_labels of host h', '__name__']),
    ({'h': {'twzrd_exporter_labels': {'bad-name': 'x'}}}, ['h'], ['bad-name']),
    ({'h': {'twzrd_exporter_labels': ['env']}}, ['h'], ['must be a dictionary']),
    ({}, ['nowhere'], ['nowhere is not an inventory host']),
    ({'h': {}}, 'h', ['hosts must be a list']),
    ([], ['h'], ['the input must be hostvars']),
])
def test_bad_input_is_named(hostvars, hosts, words):
    with pytest.raises(AnsibleFilterError) as error:
        prometheus_targets(hostvars, hosts)
    for word in words:
        assert word in str(error.value)
