#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target from the conformance vectors
(core/tests/vectors) into fuzz/seeds/<target>/. scripts/fuzz.sh starts each run from the
seeds plus the kept corpus, and `cargo fuzz cmin` folds what is worth keeping into fuzz/corpus/.
Seeds are deterministic: rerunning writes the same files."""
import hashlib, json, os, random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "core", "tests", "vectors")
OUT = os.path.join(ROOT, "fuzz", "seeds")


def load(name):
    with open(os.path.join(VECTORS, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def write(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


messages, chain = load("messages"), load("chain")
canonical, tx_hash = load("canonical"), load("tx_hash")

for case in messages["cases"]:
    write("envelope_decode", case["json"])
for key in ("syncRequest", "syncResponse"):
    write("envelope_decode", chain["syncExchange"][key]["json"])

# tx_validate: flag byte (see tx_validate.rs) + transaction JSON.
txs = [tx for b in chain["blocks"] for tx in b["transactions"]]
txs += [c["signedTransaction"] for c in tx_hash["cases"]]
for tx in txs:
    for flags in (0x00, 0x06, 0x17):
        write("tx_validate", bytes([flags]) + compact(tx).encode("utf-8"))

# block_validate: flag byte (see block_validate.rs) + block JSON.
for block in chain["blocks"][1:]:
    write("block_validate", b"\x00" + compact(block).encode("utf-8"))
for variant in chain["invalidVariants"]:
    for flags in (0x00, 0x3F, 0x2E):
        write("block_validate", bytes([flags]) + compact(variant["block"]).encode("utf-8"))

for case in canonical["cases"]:
    write("canonical_json", case["input"])

# raft_step: programs of random choices (see raft_step.rs), plus one that elects this node:
# a long tick (pre-vote), granted pre-votes for term + 1, granted votes in that term, a proposal, ready.
rng = random.Random(6)
for n in (16, 64, 256, 512):
    for _ in range(4):
        write("raft_step", bytes(rng.randrange(256) for _ in range(n)))
election = bytes([0, 0, 4,  2, 0, 0xFF, 0xFF]) + bytes([2, 2, 0x41, 1, 1]) * 2
election += bytes([2, 2, 0x40, 1, 0]) * 2 + bytes([2, 5, 2, 6]) * 3
write("raft_step", election)

# peer_frames: programs of random choices (see peer_frames.rs).
for n in (32, 128, 512):
    for _ in range(4):
        write("peer_frames", bytes(rng.randrange(256) for _ in range(n)))
