#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/tools/corrupt_tracedat.py - how tests/tools/fixtures/corrupt-*.trace.dat were found: copies
# of the committed trace.dat with a few random bytes changed (fixed seed, so the same copies every
# run), each imported by `uret-sim import COPY -o /dev/null`; the copies on which the tool died of
# a signal (status > 128, or a negative returncode) or did not finish in time are kept.
#
#   python3 tests/tools/corrupt_tracedat.py BUILD/tools/sim/uret-sim OUTDIR [COPIES] [SEED] [MOST_FLIPS]
#   python3 tests/tools/corrupt_tracedat.py BUILD/tools/sim/uret-sim OUTDIR invert
#
# The second form makes one copy per offset (after the magic) with that byte inverted (xor 0xff),
# a few minutes for the 16 KB fixture; it found the looping one (offset 7455), which 7800 random
# copies had not.
#
# Prints one line per kept copy: its name, how it was made, and what happened.
import os
import random
import subprocess
import sys


def main():
    sim, outdir = sys.argv[1], sys.argv[2]
    invert = len(sys.argv) > 3 and sys.argv[3] == "invert"
    copies = int(sys.argv[3]) if len(sys.argv) > 3 and not invert else 300
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    most_flips = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "fixtures", "kvm-user-exits.trace.dat"), "rb") as f:
        original = f.read()
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(seed)
    # Keep the magic (the first 10 bytes), so the tool takes each copy for a trace.dat and hands
    # it to libtracecmd.
    for i in range(10, len(original)) if invert else range(copies):
        data = bytearray(original)
        if invert:
            data[i] ^= 0xFF
            how = "offset=%d inverted" % i
        else:
            flips = rng.randint(1, most_flips)
            for _ in range(flips):
                data[rng.randrange(10, len(data))] = rng.randrange(256)
            how = "seed=%d copy=%d flips=%d" % (seed, i, flips)
        path = os.path.join(outdir, "copy-%03d.trace.dat" % i)
        with open(path, "wb") as f:
            f.write(data)
        timeout = 5 if invert else 20
        try:
            p = subprocess.run([sim, "import", path, "-o", os.devnull], capture_output=True,
                               timeout=timeout)
            status = p.returncode
            what = "signal %d" % -status if status < 0 else "exit %d" % status
            keep = status < 0 or status > 128
        except subprocess.TimeoutExpired:
            what, keep = "hang (killed after %d s)" % timeout, True
        if keep:
            print("%s %s %s" % (path, how, what), flush=True)
        else:
            os.remove(path)


if __name__ == "__main__":
    main()
