#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""policies/policy.schema.json (issue 16): every shipped policy validates against it, and the
schema agrees with the sandbox's own parser, document by document.

Agreement is checked on the policy fuzz corpus, the examples in policies/README.md and a set of
documents made here (each edge of each field, every syscall-table number as an ABI number): the
parser (`sandbox run --policy F --no-socket -- true`) accepts exactly what the schema accepts,
except for the three rules that tie fields together (README: distinct ABI numbers, a quota
needs its calls notified) and a SIZE beyond 64 bits of bytes, which the schema cannot say; each
such document must be refused by the parser with the message of that rule.

Usage: schema_test.py --sandbox BIN --source DIR
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema

# Refusals of the parser that a JSON Schema cannot express, each by its message:
#  - the rules that tie fields together (the schema's description);
#  - a number written with a fraction or exponent where a whole number is expected ("1.0"): JSON
#    Schema's "integer" is a value, 1.0 is one; the parser wants the integer written as such;
#  - a key given twice (a schema sees only the parsed object, where the last one won);
#  - text that Python's JSON reader takes but the parser refuses (a lone UTF-16 surrogate).
BEYOND_SCHEMA = re.compile(r"distinct|could not be enforced|cannot be enforced|got number [0-9.eE+-]+$|"
                           r"duplicate key|syntax error")
SIZE = re.compile(r"^([0-9]+)([KkMmGg]?)")


def beyond_64_bits(doc):
    """A SIZE string whose bytes do not fit in 64 bits: the schema's pattern cannot bound it."""
    v = doc.get("heap_quota") if isinstance(doc, dict) else None
    m = SIZE.match(v) if isinstance(v, str) else None
    if not m:
        return False
    shift = {"": 20, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]
    return int(m.group(1)) << shift > 2**64 - 1


def parser_verdict(sandbox, path):
    """(accepted, message): refused means exit 2 with the one-line policy error naming the file.
    Anything else means the policy was taken (`true` may still die of it: a heap quota of 0, an
    ABI number that hides a call the loader needs)."""
    p = subprocess.run([sandbox, "run", "--policy", path, "--no-socket", "--", "true"],
                       capture_output=True, text=True, errors="replace", timeout=60)
    err = p.stderr.strip()
    refused = p.returncode == 2 and err.startswith(f"sandbox: {path}: ") and "\n" not in err
    if p.returncode == 2 and not refused:
        raise RuntimeError(f"exit 2 without one line naming the policy: {err!r}")
    return not refused, err


def made_documents(table_numbers):
    docs = [{"version": 1}, {"version": 2}, {"version": 1.0}, {}, {"version": 1, "quotas": {"heap": "1M"}},
            {"version": 1, "bogus": 1}, {"version": 1, "description": 3}]
    for v in ["100M", "512K", "2G", "1GiB", "64mb", "7", 0, 100, -1, -2, "unlimited", None, "1.5M", "", " 1M",
              "1T", "-1", "12B", 17592186044415, 17592186044416, "99999999999999999999G", 1.5, True]:
        docs.append({"version": 1, "heap_quota": v})
    for v in [0, 64, -1, -2, "unlimited", None, "10", 1.0, False]:
        docs.append({"version": 1, "file_quota": v})
    for v in ["deny", "allow", "maybe", True]:
        docs.append({"version": 1, "io_uring": v})
    docs += [{"version": 1, "track": True}, {"version": 1, "track": "yes"},
             {"version": 1, "notify": {"brk": False}}, {"version": 1, "notify": {"exit": False}},
             {"version": 1, "notify": {"open": False}, "file_quota": 3},
             {"version": 1, "notify": {"brk": False, "mmap": False}, "heap_quota": "1M"},
             {"version": 1, "abi": {"enabled": False}}, {"version": 1, "abi": {"numbers": {}}},
             {"version": 1, "abi": {"numbers": {"register": 452}}},
             {"version": 1, "abi": {"numbers": {"frobnicate": 1000}}},
             {"version": 1, "abi": {"numbers": {"register": 1024}}},
             {"version": 1, "abi": {"numbers": {"register": -1}}}]
    for n in sorted(set(table_numbers) | {0, 1, 500, 1000, 1023}):
        docs.append({"version": 1, "abi": {"numbers": {"register": n}}})
    return docs


def readme_examples(source):
    with open(os.path.join(source, "policies", "README.md")) as f:
        text = f.read()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.source, "policies", "policy.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = []

    shipped = sorted(p for p in glob.glob(os.path.join(args.source, "policies", "*.json"))
                     if not p.endswith(".schema.json"))
    for p in shipped:
        with open(p) as f:
            errors = [e.message for e in validator.iter_errors(json.load(f))]
        if errors:
            failures.append(f"shipped {os.path.basename(p)} does not validate: {errors[0]}")
    print(f"schema: {len(shipped)} shipped policies validated")

    # The numbers of the syscall table, as policies/README.md lists them ("brk 12, mmap 9, ...").
    with open(os.path.join(args.source, "policies", "README.md")) as f:
        listed = re.search(r"syscall table.*?: (brk 12.*?)\. This", f.read(), re.S)
    table = [int(n) for n in re.findall(r"\b(\d+)\b", listed.group(1))] if listed else []
    if not table:
        failures.append("policies/README.md: the list of the syscall table's numbers was not found")

    corpus = []
    for p in sorted(glob.glob(os.path.join(args.source, "test", "fuzz", "corpus", "policy", "*"))):
        with open(p, "rb") as f:
            raw = f.read()
        corpus.append((os.path.basename(p), raw))
    made = [(f"made-{i}", json.dumps(d).encode()) for i, d in enumerate(made_documents(table))]
    made += [(f"readme-{i}", json.dumps(d).encode()) for i, d in enumerate(readme_examples(args.source))]
    agree = cross = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, raw in corpus + made:
            path = os.path.join(tmp, "policy.json")
            with open(path, "wb") as f:
                f.write(raw)
            doc = None
            try:
                doc = json.loads(raw)
                schema_ok = validator.is_valid(doc)
            except (ValueError, UnicodeDecodeError):
                schema_ok = False  # not JSON at all: the parser must refuse it too
            try:
                parser_ok, err = parser_verdict(args.sandbox, path)
            except RuntimeError as e:
                failures.append(f"{name}: {e}")
                continue
            if schema_ok == parser_ok:
                agree += 1
            elif schema_ok and not parser_ok and (BEYOND_SCHEMA.search(err) or beyond_64_bits(doc)):
                cross += 1
            else:
                failures.append(f"{name}: schema says {'valid' if schema_ok else 'invalid'}, the parser "
                                f"{'accepts' if parser_ok else 'refuses: ' + err}: {raw[:200]!r}")
    print(f"schema: {len(corpus) + len(made)} documents ({len(corpus)} from the fuzz corpus): "
          f"{agree} same verdict, {cross} refused by the parser for a rule beyond a schema only")
    for f in failures:
        print(f"schema: FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
