#!/usr/bin/env python3
"""Writes format/vectors/pack-{data,tree}-v2-format4.txt, independently of src/.

Lays out a version 2 pack from format/pack.md and format/crypto.md alone: subkeys through
libsodium's crypto_kdf, records and header sealed with its XChaCha20-Poly1305 (through ctypes),
ids and names with Python's hmac/hashlib. Given a repository format version below 4 it must
reproduce the existing vector byte for byte (a check of this script), at 4 it prints the new one:

    cd format/vectors
    python3 ../../tools/vectors-pack.py pack-data-v2.txt 3     # prints "reproduced ..."
    python3 ../../tools/vectors-pack.py pack-data-v2.txt 4 > pack-data-v2-format4.txt
"""
import ctypes, hashlib, hmac, struct, sys
na = ctypes.CDLL("libsodium.so.23"); assert na.sodium_init() >= 0
def subkey(master, i):
    out = ctypes.create_string_buffer(32)
    assert na.crypto_kdf_derive_from_key(out, ctypes.c_size_t(32), ctypes.c_uint64(i), b"drrepo01", master) == 0
    return out.raw
def seal(key, nonce, ad, pt):
    out = ctypes.create_string_buffer(len(pt) + 16); ol = ctypes.c_ulonglong()
    assert na.crypto_aead_xchacha20poly1305_ietf_encrypt(out, ctypes.byref(ol), pt, ctypes.c_ulonglong(len(pt)), ad, ctypes.c_ulonglong(len(ad)), None, nonce, key) == 0
    return nonce + out.raw[:ol.value]
def padme(L):
    e = L.bit_length() - 1; s = e.bit_length()
    low = (1 << (e - s)) - 1
    return (L + low) // (low + 1) * (low + 1)
def parse(path):
    d = {}; blobs = []
    for line in open(path):
        if line.startswith('#') or not line.strip(): continue
        t = line.split()
        if t[0] == 'blob': blobs.append((bytes.fromhex(t[1]), b'' if t[2] == '-' else bytes.fromhex(t[2])))
        else: d.setdefault(t[0], t[1:])
    return d, blobs
def build(path, fmt):
    d, blobs = parse(path)
    master = bytes.fromhex(d['master'][0]); typ = int(d['type'][0])
    idk, enck = subkey(master, 1), subkey(master, 2)
    if fmt >= 4: idf = lambda m: hmac.new(idk, m, hashlib.sha256).digest()
    else: idf = lambda m: hashlib.blake2b(m, digest_size=32, key=idk).digest()
    pre = b"DRREPPAK" + struct.pack('<I', 2) + bytes([typ, 0, 0, 0])
    body = bytearray(pre); ents = []
    for nonce, pt in blobs:
        i = idf(pt); off = len(body)
        body += seal(enck, nonce, bytes([typ]) + i, b'\x00' + pt)
        ents.append((typ, i, off, len(body) - off, len(pt)))
    hlen = 8 + 4 + 4 + 4 + len(ents) * 45
    unpadded = len(body) + 24 + hlen + 16 + 4 + 8
    pad = padme(unpadded) - unpadded
    body += b'\x00' * pad
    hdr = b"DRPAKHDR" + struct.pack('<III', 2, len(ents), pad) + b''.join(bytes([t]) + i + struct.pack('<III', o, c, u) for t, i, o, c, u in ents)
    sh = seal(enck, bytes.fromhex(d['header_nonce'][0]), pre, hdr)
    f = bytes(body) + sh + struct.pack('<I', len(sh)) + b"DRPAKEND"
    h = hashlib.sha256(f).hexdigest() if fmt >= 4 else hashlib.blake2b(f, digest_size=32).hexdigest()
    return d, blobs, ents, f, pad, ("data" if typ == 0 else "tree") + "/" + h[:2] + "/" + h
path, fmt = sys.argv[1], int(sys.argv[2])
d, blobs, ents, f, pad, name = build(path, fmt)
if fmt < 4:  # self-check against the existing vector
    assert f.hex() == d['pack'][0] and name == d['name'][0] and pad == int(d['pad'][0]), "mismatch"
    print("reproduced", path); sys.exit(0)
kind = "data" if d['type'][0] == '0' else "tree"
print(f"# The blobs of pack-{kind}-v2.txt as a version 2 {kind} pack of a repository of format version 4")
print("# (format/crypto.md \"Blob ids\", format/pack.md \"Pack file\"): the ids in the header are")
print("# HMAC-SHA-256 under id_key and 'name' holds the SHA-256 of the file; every other field as in")
print(f"# pack-{kind}-v2.txt. 'format' is the repository's format version.")
print("master", d['master'][0]); print("format", fmt); print("type", d['type'][0])
for nonce, pt in blobs: print("blob", nonce.hex(), pt.hex() if pt else '-')
print("header_nonce", d['header_nonce'][0])
for t, i, o, c, u in ents: print("entry", t, i.hex(), o, c, u)
print("size", len(f)); print("pad", pad); print("pack", f.hex()); print("name", name)
