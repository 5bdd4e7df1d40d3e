#!/usr/bin/env bash
# How small could a stored fragment be? Measures, on the records of a data directory, per-record compression
# with and without a trained dictionary (docs/benchmarks.md, "What a load writes, and how small a stored record
# could be").
#
#   bench/record-size.sh DATA_DIR [ENTITY]
#
# Needs 12,000 records of ENTITY (default person): every other one of the first 10,000 trains a 64 KiB zstd
# dictionary, and the next 2,000 are measured, each compressed on its own as a stored row would be. Prints
# zstd's own benchmark lines: bytes before and after, compression and decompression speed on one core. Needs
# python3 and the zstd command.
set -euo pipefail
data_dir=${1:?usage: bench/record-size.sh DATA_DIR [ENTITY]}
entity=${2:-person}
command -v zstd >/dev/null || { echo "record-size: the zstd command is needed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$data_dir/rapport.db" "$entity" "$work" <<'EOF'
import os, sqlite3, sys
db, entity, work = sys.argv[1:]
conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
rows = [r[0] for r in conn.execute("SELECT record FROM fragments WHERE entity = ? ORDER BY id", (entity,))]
if len(rows) < 12000:
    sys.exit(f"record-size: {len(rows)} {entity} records; 12,000 are needed")
# Every other record of the first 10,000 trains, the next 2,000 after them are measured: no overlap.
train, test = rows[0:10000:2], rows[10000:12000]
for name, part in (("train", train), ("test", test)):
    os.makedirs(os.path.join(work, name))
    for i, record in enumerate(part):
        with open(os.path.join(work, name, str(i)), "w", encoding="utf-8") as f:
            f.write(record)
size = sum(len(r.encode()) for r in test)
print(f"{len(test)} {entity} records measured, {size / len(test):.0f} bytes each on average as stored JSON")
EOF

zstd --train -q "$work"/train/* -o "$work/dict" --maxdict=65536
bench() { zstd "$@" "$work"/test/* 2>&1 | tr '\r' '\n' | grep -E 'MB/s.*MB/s' | tail -n 1; }
echo "zstd -1, no dictionary:        $(bench -b1)"
echo "zstd -1, 64 KiB dictionary:    $(bench -b1 -D "$work/dict")"
echo "zstd -3, 64 KiB dictionary:    $(bench -b3 -D "$work/dict")"
