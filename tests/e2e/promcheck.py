#!/usr/bin/env python3
"""promcheck.py FILE...: checks the Prometheus text exposition format 0.0.4 (what promtool
check metrics checks of the syntax): HELP and TYPE at most once per metric and before its
samples, the samples of a metric in one group, metric and label names, label values with only
the escapes \\\\, \\" and \\n, float values (NaN, +Inf, -Inf), no duplicate series, a final
newline. Exits 1 naming the first problem."""
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*'
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*,?)?\})? ([^ ]+)(?: (-?[0-9]+))?$'
                    % (NAME, LABEL, VALUE, LABEL, VALUE))
PAIR = re.compile(r'(%s)=(%s)' % (LABEL, VALUE))


def base(name, types):
    for suf in ('_bucket', '_count', '_sum'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in ('histogram', 'summary'):
            return name[:-len(suf)]
    return name


def check(path):
    data = open(path, 'rb').read().decode('utf-8')
    if data and not data.endswith('\n'):
        return 'no newline at the end'
    help_, types, done, series = {}, {}, set(), set()
    current = None
    for n, line in enumerate(data.split('\n')[:-1], 1):
        where = '%s:%d: ' % (path, n)
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                name = parts[2]
                if not re.fullmatch(NAME, name):
                    return where + 'bad metric name in ' + parts[1]
                table = help_ if parts[1] == 'HELP' else types
                if name in table:
                    return where + 'second %s of %s' % (parts[1], name)
                if name in done or name == current and parts[1] == 'TYPE' and current in series_names:
                    return where + '%s of %s after its samples' % (parts[1], name)
                if parts[1] == 'TYPE':
                    if len(parts) != 4 or parts[3] not in ('counter', 'gauge', 'histogram',
                                                           'summary', 'untyped'):
                        return where + 'bad TYPE line'
                if parts[1] == 'HELP' and len(parts) == 4 and re.search(r'\\[^\\n]', parts[3]):
                    return where + 'bad escape in HELP'
                table[name] = parts[3] if len(parts) == 4 else ''
            continue
        if not line.strip():
            continue
        m = SAMPLE.match(line)
        if not m:
            return where + 'not a sample line: ' + line
        name = base(m.group(1), types)
        if name != current:
            if name in done:
                return where + 'samples of %s are not in one group' % name
            if current is not None:
                done.add(current)
            current = name
        series_names.add(name)
        labels = tuple(sorted(PAIR.findall(m.group(2) or '')))
        if len(set(k for k, _ in labels)) != len(labels):
            return where + 'a label given twice'
        key = (m.group(1), labels)
        if key in series:
            return where + 'duplicate series'
        series.add(key)
        v = m.group(3)
        if v not in ('NaN', '+Inf', '-Inf'):
            try:
                float(v)
            except ValueError:
                return where + 'bad value ' + v
            if v.lower() in ('nan', 'inf', '-inf', 'infinity'):
                return where + 'bad value ' + v
    return None


series_names = set()
if __name__ == '__main__':
    for p in sys.argv[1:]:
        series_names.clear()
        err = check(p)
        if err:
            print('promcheck: ' + err)
            sys.exit(1)
