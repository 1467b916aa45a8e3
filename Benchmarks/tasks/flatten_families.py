#!/usr/bin/env python3
"""Writes the tune and held-out items of a family set as self-contained classify lines.

docs/data/classify-families.jsonl gives each family's labels (with descriptions) once, in a header line; builds
from before issue 16 read only `{"text", "label", "labels", "split"}` lines. This writes every tune / heldout item
with its family's label names as written (no descriptions, no examples — what those builds could use), so the
product as it was can be timed on the same texts and label sets (docs/tasks.md, "Against the product before
issue 16"):

  python3 Benchmarks/tasks/flatten_families.py docs/data/classify-families.jsonl > /tmp/flat-families.jsonl
"""
import json
import sys


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/data/classify-families.jsonl"
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    labels = {r["family"]: [l["label"] if isinstance(l, dict) else l for l in r["labels"]]
              for r in rows if "labels" in r}
    for r in rows:
        if r.get("split") in ("tune", "heldout") and "text" in r:
            print(json.dumps({"text": r["text"], "label": r["label"], "labels": labels[r["family"]],
                              "split": r["split"], "family": r["family"]}))


if __name__ == "__main__":
    main()
