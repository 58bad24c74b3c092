"""http_probe: retries with back-off against scripted answers, and one real local server."""
import http.server
import threading

from ansible_collections.twzrd.ops.plugins.module_utils.probes import http_probe


class Script:
    def __init__(self, answers):
        self.answers = list(answers)
        self.sleeps = []
        self.now = 0.0

    def fetch(self, url, timeout):
        return self.answers.pop(0)

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self):
        return self.now


def probe(answers, **kw):
    s = Script(answers)
    out = http_probe.probe('http://127.0.0.1:1/health', fetch=s.fetch, sleep=s.sleep, clock=s.clock, **kw)
    return out, s


def test_first_answer_ok():
    out, s = probe([(200, 'ok', None)])
    assert out['ok'] and out['attempts'] == 1 and s.sleeps == []


def test_retries_with_doubling_backoff_then_ok():
    out, s = probe([(None, '', 'connection refused'), (503, 'starting', None), (200, 'ok', None)], retries=3, backoff=0.5)
    assert out['ok'] and out['attempts'] == 3 and s.sleeps == [0.5, 1.0]


def test_gives_up_after_retries_with_last_evidence():
    out, s = probe([(500, 'broken', None)] * 3, retries=2, backoff=1)
    assert not out['ok'] and out['attempts'] == 3 and out['status'] == 500
    assert out['error'] == 'HTTP 500, expected 200' and out['body'] == 'broken' and s.sleeps == [1, 2]


def test_expected_status_other_than_200():
    out = probe([(200, 'ok', None), (204, '', None)], expected_status=204, retries=1, backoff=0)[0]
    assert out['ok'] and out['attempts'] == 2


def test_url_errors():
    assert http_probe.url_errors('http://127.0.0.1:3000/health') == []
    assert http_probe.url_errors('127.0.0.1:3000')
    assert http_probe.url_errors(None)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        codes = {'/ok': 200, '/bad': 500, '/moved': 302}
        self.send_response(codes.get(self.path, 404))
        if self.path == '/moved':
            self.send_header('Location', '/ok')
        self.end_headers()
        self.wfile.write(b'body')

    def log_message(self, *args):
        pass


def test_real_server_statuses_and_no_redirect_following():
    server = http.server.HTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = 'http://127.0.0.1:%d' % server.server_address[1]
    try:
        assert http_probe.probe(base + '/ok', retries=0)['ok']
        bad = http_probe.probe(base + '/bad', retries=0)
        assert not bad['ok'] and bad['status'] == 500
        moved = http_probe.probe(base + '/moved', retries=0)
        assert moved['status'] == 302 and not moved['ok']
    finally:
        server.shutdown()
        server.server_close()
    refused = http_probe.probe(base + '/ok', retries=0, timeout=1)
    assert not refused['ok'] and refused['status'] is None and refused['error']
