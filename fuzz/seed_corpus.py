#!/usr/bin/env python3
"""Writes seed inputs for every fuzz target from the protocol test vectors.

Reads crates/protocol/tests/vectors/protocol.json and writes one file per vector
into fuzz/corpus/<target>/, named by the SHA-1 of its bytes (as libFuzzer names
its own), so running it again adds nothing twice. The committed corpus is these
seeds plus what a short run found, minimised with `cargo fuzz cmin` (see
fuzz/README.md).
"""

import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "crates/protocol/tests/vectors/protocol.json"
CORPUS = ROOT / "fuzz/corpus"

# decode_snapshot_body: the first byte's low four bits give the synthetic
# baseline's size; 0x0f means a keyframe (no baseline).
KEYFRAME = 0x0F


def write(target: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    vectors = json.loads(VECTORS.read_text())
    for vector in vectors["messages"] + vectors["invalid_messages"]:
        target = f"decode_{vector['direction']}_message"
        write(target, bytes.fromhex(vector["hex"]))
    for vector in vectors["frames"]:
        stream = bytes.fromhex(vector["hex"])
        # Whole, and fed a byte at a time and three at a time.
        for chunk in (255, 0, 2):
            write("frame_decoder", bytes([chunk]) + stream)
    for vector in vectors["snapshots"] + vectors["invalid_snapshots"]:
        baseline = vector["baseline"]
        selector = KEYFRAME if baseline is None else min(len(baseline), 8)
        write("decode_snapshot_body", bytes([selector]) + bytes.fromhex(vector["hex"]))


if __name__ == "__main__":
    main()
