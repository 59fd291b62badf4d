#!/usr/bin/env python3
"""rdb-gen.py: Redis commands (RESP, for `redis-cli --pipe`) that build and age a data set like
the one of issue #7: ~200-byte records, every data type, values about 2.3x compressible, and
each "day" a few percent of the keys changed (values updated, keys added, keys deleted or
expiring), spread evenly over the key space.

  rdb-gen.py populate N        the day-0 data set of N keys
  rdb-gen.py day D N [PCT]     day D's changes to a data set populated with N keys (default
                               3.5% updated, plus 0.5% added and 0.5% deleted)
  rdb-gen.py types             a small data set with every type, TTLs and several databases

Deterministic: the same arguments give the same commands.
"""
import random
import sys

out = sys.stdout.buffer


def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))


WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega red green blue "
         "black white north south east west home work cart order paid shipped pending").split()


def hexs(rng, n):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def user_value(rng, i, gen):
    return ('{"id":%d,"name":"user_%d","email":"user%d@example.com","session":"%s",'
            '"seen":%d,"gen":%d,"theme":"%s","lang":"%s","note":"%s %s %s"}' % (
                i, i, i, hexs(rng, 40), 1700000000 + rng.randrange(10**6), gen,
                rng.choice(WORDS), rng.choice(("en", "de", "fr", "es")), rng.choice(WORDS),
                rng.choice(WORDS), hexs(rng, 12)))


def write_key(rng, i, gen):
    kind = i % 20
    if kind < 14:
        cmd("SET", "user:%d" % i, user_value(rng, i, gen))
        if i % 7 == 0:
            cmd("EXPIRE", "user:%d" % i, 86400 * 30 + i % 1000)
    elif kind < 16:
        args = ["HSET", "cart:%d" % i]
        for f in range(4):
            args += ["item%d" % f, "%s:%d:%s" % (rng.choice(WORDS), rng.randrange(100), hexs(rng, 8))]
        cmd(*args)
    elif kind < 18:
        cmd("DEL", "feed:%d" % i)
        cmd("RPUSH", "feed:%d" % i, *["%s-%s" % (rng.choice(WORDS), hexs(rng, 10)) for _ in range(5)])
    elif kind < 19:
        cmd("SADD", "tags:%d" % i, *[rng.choice(WORDS) + hexs(rng, 2) for _ in range(6)])
    else:
        args = ["ZADD", "score:%d" % i]
        for m in range(5):
            args += [str(rng.randrange(10**6)), "%s%d" % (rng.choice(WORDS), m)]
        cmd(*args)


def key_name(i):
    kind = i % 20
    return ("user" if kind < 14 else "cart" if kind < 16 else "feed" if kind < 18 else
            "tags" if kind < 19 else "score") + ":%d" % i


def populate(n):
    rng = random.Random(1)
    for i in range(n):
        write_key(rng, i, 0)


def day(d, n, pct):
    rng = random.Random(1000 + d)
    alive = n + d * n // 200  # ids grow by 0.5% a day
    for _ in range(int(n * pct / 100)):
        write_key(rng, rng.randrange(alive), d)
    for j in range(n // 200):
        write_key(rng, alive + j, d)
    for _ in range(n // 200):
        cmd("DEL", key_name(rng.randrange(alive)))


def types():
    rng = random.Random(7)
    for db in (0, 1, 3):
        cmd("SELECT", db)
        for i in range(300):
            write_key(rng, i, db)
        cmd("SET", "int:%d" % db, 12345)
        cmd("SET", "neg", -7)
        cmd("SET", "big:%d" % db, "x" * 100000 + hexs(rng, 64))
        cmd("SET", "long-compressible", "abc" * 2000)
        cmd("RPUSH", "biglist", *["elem-%d-%s" % (k, "y" * (k % 50)) for k in range(2000)])
        cmd("SADD", "intset", *[str(k * 3) for k in range(100)])
        cmd("SADD", "bigset", *["member-%d" % k for k in range(1000)])
        cmd("HSET", "bighash", *sum([["f%d" % k, "v" * (k % 100)] for k in range(1000)], []))
        cmd("ZADD", "bigzset", *sum([[str(k * 1.5), "m%d" % k] for k in range(1000)], []))
        cmd("SET", "ttl-ms", "v", "PX", 99999999)
        for s in range(3):
            for e in range(50):
                cmd("XADD", "stream:%d" % s, "*", "field", "value-%d" % e, "n", e)
            cmd("XGROUP", "CREATE", "stream:%d" % s, "g1", "0")
            cmd("XGROUP", "CREATE", "stream:%d" % s, "g2", "$")
            cmd("XREADGROUP", "GROUP", "g1", "consumer-a", "COUNT", 10, "STREAMS",
                "stream:%d" % s, ">")
            cmd("XREADGROUP", "GROUP", "g1", "consumer-b", "COUNT", 5, "STREAMS",
                "stream:%d" % s, ">")
            cmd("XACK", "stream:%d" % s, "g1", "0-1")
            cmd("XDEL", "stream:%d" % s, "0-1")
    cmd("SELECT", 0)
    cmd("FUNCTION", "LOAD", "REPLACE",
        "#!lua name=drlib\nredis.register_function('drf', function(keys, args) return 1 end)")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "populate":
        populate(int(sys.argv[2]))
    elif what == "day":
        day(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 3.5)
    elif what == "types":
        types()
    else:
        sys.exit("usage: rdb-gen.py populate N | day D N [PCT] | types")
