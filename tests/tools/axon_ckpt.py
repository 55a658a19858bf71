"""Read an axon checkpoint (docs/CHECKPOINT.md), versions 1 to 3, into a
dict of sections {name: bytes}, with the payload sections' bytes in
little-endian float32 order. Standard library only.

    python3 tests/tools/axon_ckpt.py FILE      # lists the sections
"""
import struct
import sys
import zlib


def _unshuffle(raw, run):
    """Undo the grouping of bytes by significance in runs of `run` bytes."""
    out = bytearray(len(raw))
    for s in range(0, len(raw), run):
        seg = raw[s:s + run]
        n = len(seg) // 4
        for k in range(4):
            out[s + k:s + 4 * n:4] = seg[k * n:(k + 1) * n]
    return bytes(out)


def _payload(b, o, shuffle):
    comp_len, raw_len = struct.unpack_from('<QQ', b, o)
    o += 16
    raw = zlib.decompress(b[o:o + comp_len])
    assert len(raw) == raw_len
    assert zlib.crc32(raw) == struct.unpack_from('<I', b, o + comp_len)[0]
    return _unshuffle(raw, shuffle) if shuffle else raw


def read(path):
    b = open(path, 'rb').read()
    assert b[:8] == b'AXONCKPT', 'not an axon checkpoint'
    version, hlen = struct.unpack_from('<II', b, 8)
    sec = {}
    if version >= 3:
        n, shuffle = struct.unpack_from('<II', b, 16)
        at, table = 24, []
        for _ in range(n):
            nl, = struct.unpack_from('<I', b, at)
            name = b[at + 4:at + 4 + nl].decode()
            flags, length = struct.unpack_from('<IQ', b, at + 4 + nl)
            table.append((name, flags & 1, length))
            at += 16 + nl
        assert at == 16 + hlen
        for name, payload, length in table:
            if not payload:
                sec[name] = b[at:at + length]
                at += length
        assert zlib.crc32(b[:at]) == struct.unpack_from('<I', b, at)[0]
        raw = _payload(b, at + 4, shuffle)
        off = 0
        for name, payload, length in table:
            if payload:
                sec[name] = raw[off:off + length]
                off += length
        return sec
    # versions 1 and 2: fixed fields, config, extra records, two arenas
    h = 16
    (model_hash, world, kind, epoch, step, gstep, t, best, best_epoch, bad,
     n_params, n_state, clen, elen, n_rng, shuffle) = struct.unpack_from(
        '<QIIQQQQdQQQQQQII', b, h)
    o = h + hlen
    sec['config'] = b[o:o + clen]
    extra = b[o + clen:o + clen + elen]
    o += clen + elen + 4
    raw = _payload(b, o, shuffle if version >= 2 else 0)
    sec['run'] = struct.pack('<QQQQ', epoch, step, gstep, world)
    sec['early_stop'] = struct.pack('<dQQ', best, best_epoch, bad)
    sec['model/hash'] = struct.pack('<Q', model_hash)
    sec['model/optim'] = struct.pack('<QQ', kind, t)
    sec['model/params'] = raw[:4 * n_params]
    sec['model/state'] = raw[4 * n_params:]
    at = 0
    while at < len(extra):
        tl, = struct.unpack_from('<I', extra, at)
        tag = extra[at + 4:at + 4 + tl].decode()
        vl, = struct.unpack_from('<Q', extra, at + 4 + tl)
        at += 12 + tl
        sec[tag] = extra[at:at + vl]
        at += vl
    return sec


if __name__ == '__main__':
    for name, data in read(sys.argv[1]).items():
        print('%-24s %10d bytes' % (name, len(data)))
