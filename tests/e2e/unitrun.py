#!/usr/bin/env python3
"""unitrun.py UNIT INSTANCE ROOT: runs a systemd service unit's ExecStart= line as systemd would,
without systemd: Environment= and EnvironmentFile= in order (a '-' file may be missing), the
specifiers %i and %%, "$VAR" split at whitespace and "${VAR}" as one word, and the paths of
the units moved under ROOT (/etc/drrepo, /var/cache/drrepo, /var/lib/node_exporter/textfile,
/var/tmp) with /usr/bin/drrepo replaced by $DRREPO_BIN. Exits with the command's exit code, so
that contrib/systemd/ cannot rot (tests/e2e/t0096-scheduling.sh)."""
import os
import re
import shlex
import sys

unit, instance, root = sys.argv[1:4]
moves = [('/usr/bin/drrepo', os.environ['DRREPO_BIN']),
         ('/etc/drrepo', root + '/etc'), ('/var/cache/drrepo', root + '/cache'),
         ('/var/lib/node_exporter/textfile', root + '/textfile'), ('/var/tmp', root + '/tmp')]


def move(s):
    for a, b in moves:
        s = s.replace(a, b)
    return s


def spec(s):
    return re.sub(r'%(.)', lambda m: {'i': instance, '%': '%'}[m.group(1)], s)


env = {k: v for k, v in os.environ.items() if not k.startswith('DRREPO_') or k == 'DRREPO_BIN'}
execs = []
section = None
for line in open(unit, encoding='utf-8'):
    line = line.strip()
    if not line or line[0] in '#;':
        continue
    if line.startswith('['):
        section = line
        continue
    key, _, value = line.partition('=')
    if section != '[Service]':
        continue
    value = move(spec(value))
    if key == 'Environment':
        for word in shlex.split(value):
            k, _, v = word.partition('=')
            env[k] = v
    elif key == 'EnvironmentFile':
        optional = value.startswith('-')
        path = value.lstrip('-')
        if not os.path.exists(path) and optional:
            continue
        for l in open(path, encoding='utf-8'):
            l = l.strip()
            if l and l[0] not in '#;':
                k, _, v = l.partition('=')
                env[k] = move(v.strip('"'))
    elif key == 'ExecStart':
        execs.append(value)
if len(execs) != 1:
    sys.exit('%s: %d ExecStart= lines, expected 1' % (unit, len(execs)))
argv = []
for word in shlex.split(execs[0]):
    m = re.fullmatch(r'\$([A-Za-z_][A-Za-z0-9_]*)', word)
    if m:
        argv += env.get(m.group(1), '').split()
        continue
    argv.append(re.sub(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}', lambda m: env.get(m.group(1), ''), word))
sys.stdout.flush()
os.execve(argv[0], argv, env)
