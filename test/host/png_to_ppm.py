#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""png_to_ppm: decode a PNG (8-bit greyscale, RGB or RGBA; not interlaced) with the standard
library only and write it as a binary PPM (P6) to stdout, alpha composited over white.
Tests use it to look at the pixels of a plot that rsvg-convert rendered.

Usage: png_to_ppm.py FILE.png > FILE.ppm
"""
import struct
import sys
import zlib


def decode(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, head = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = head
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d, interlace %d)" % (depth, colour, interlace))
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line
    out = bytearray()
    for line in rows:
        for x in range(width):
            px = line[x * channels:(x + 1) * channels]
            if channels in (1, 2):
                rgb, alpha = [px[0]] * 3, (px[1] if channels == 2 else 255)
            else:
                rgb, alpha = list(px[:3]), (px[3] if channels == 4 else 255)
            out += bytes((v * alpha + 255 * (255 - alpha)) // 255 for v in rgb)
    return width, height, bytes(out)


def main():
    with open(sys.argv[1], "rb") as f:
        width, height, rgb = decode(f.read())
    sys.stdout.buffer.write(b"P6\n%d %d\n255\n" % (width, height) + rgb)


if __name__ == "__main__":
    main()
