#!/usr/bin/env python3
"""Label log-likelihood classification through llama.cpp (llama-cpp-python) with EdgeLM's prompts.

Builds the same prompt as EdgeLM's TaskRunner (shared prefix = instruction, label list, descriptions and
few-shot examples; then `Text: …` and the answer opened with `Label:`), scores each label's words plus the
end marker by their log-likelihood, applies the same contextual calibration and temperature, and prints
per-family accuracy, macro-F1 and ECE. Used to explore prompt variants on the tune split and as the llama.cpp
baseline in docs/tasks.md.

  python Benchmarks/tasks/classify_llamacpp.py --model weights/smollm2-135m-instruct-q4_1.gguf \
      --data docs/data/classify-families.jsonl --split heldout --shots 2 --fit-split tune

With --channel-skip / --channel-top-k / --channel-coverage / --skip-temperature the combined scores follow EdgeLM's
channel setting (the channel half is scored for every label and cached; the setting picks from it), e.g. SmolLM2's
default: --shots 4 --channel-skip 0.4 --channel-top-k 2 --channel-coverage 0.7 --skip-temperature 0.639.
"""
import argparse, json, math, os, sys, time, pickle, hashlib
import numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from labels import humanise_set, capitalise

CF_INPUTS = ["N/A", "[MASK]", ""]


def load(path):
    """Items grouped by family: {family: {"labels": [names], "descriptions": [..]|None, "rows": [(text,label,split)]}}."""
    fams = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        d = json.loads(line)
        labels = d.get("labels")
        fam = d.get("family")
        if labels is not None:
            names = [l["label"] if isinstance(l, dict) else l for l in labels]
            descs = [l.get("description") if isinstance(l, dict) else None for l in labels]
            if fam is None:
                fam = ",".join(names)
            f = fams.setdefault(fam, {"labels": names, "descriptions": descs, "rows": []})
            if f["labels"] != names:
                raise SystemExit(f"family {fam}: two label sets")
        if "text" in d:
            fams[fam]["rows"].append((d["text"], d["label"], d.get("split")))
    return fams


class Prompter:
    """The prompt of one label set (a twin of TaskRunner.classificationPrompt)."""
    def __init__(self, chat, labels, descriptions, shots, cfg):
        self.chat = chat
        self.cfg = cfg
        self.words = humanise_set(labels) if cfg.get("humanise", True) else list(labels)
        self.spelled = [capitalise(w) for w in self.words] if cfg.get("capitalise", True) else self.words
        instr = cfg.get("instruction") or "Classify the text."
        lines = [instr]
        if cfg.get("list", True):
            lines.append("Answer with exactly one of: " + ", ".join(self.spelled) + ".")
        if descriptions and cfg.get("descriptions", True) and any(descriptions):
            lines.append("Labels:")
            for s, d in zip(self.spelled, descriptions):
                lines.append(f"- {s}: {d}" if d else f"- {s}")
        system = "\n".join(lines)
        self.system = system
        self.shots = shots  # [(text, label index)]

    def render(self, text):
        """(prefix, input, after) strings; the prompt tokens are tok(prefix) + tok(input) + tok(after), as in
        TaskRunner.classificationTokens."""
        if self.chat:
            p = f"<|im_start|>system\n{self.system}<|im_end|>\n"
            for t, i in self.shots:
                p += f"<|im_start|>user\nText: {t}<|im_end|>\n<|im_start|>assistant\nLabel: {self.spelled[i]}<|im_end|>\n"
            p += "<|im_start|>user\n"
            return p, f"Text: {text}", "<|im_end|>\n<|im_start|>assistant\nLabel:"
        p = self.system + "\n\n"
        for t, i in self.shots:
            p += f"Text: {t}\nLabel: {self.spelled[i]}\n\n"
        return p, f"Text: {text}", "\nLabel:"


class Scorer:
    """llama.cpp through llama-cpp-python's low-level batch API: logits only where they are needed (the last
    prompt token and the label tokens), KV reuse of the longest common prefix with the previous prompt."""
    def __init__(self, path, n_ctx=2048, threads=1):
        from llama_cpp import Llama
        self.llm = Llama(model_path=path, n_ctx=n_ctx, logits_all=False, verbose=False, n_threads=threads,
                         n_threads_batch=threads, n_batch=512)
        md = self.llm.metadata
        self.chat = "tokenizer.chat_template" in md
        self.add_bos = md.get("tokenizer.ggml.add_bos_token") == "true"
        self.vocab = self.llm.n_vocab()
        self.eot = self.tok("<|im_end|>")[0] if self.chat else self.tok("\n")[0]
        self.cur = []

    def tok(self, s):
        return self.llm.tokenize(s.encode("utf-8"), add_bos=False, special=True)

    def _eval(self, tokens, n_past, all_logits):
        """Evaluates tokens at n_past; returns the logits of every token (all_logits) or of the last one."""
        self.llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        outs = []
        for i in range(0, len(tokens), 512):
            chunk = tokens[i:i + 512]
            last = i + 512 >= len(tokens)
            self.llm._batch.set_batch(batch=chunk, n_past=n_past + i, logits_all=all_logits)
            self.llm._ctx.decode(self.llm._batch)
            if all_logits or last:
                rows = len(chunk) if all_logits else 1
                outs.append(np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(rows * self.vocab,)).reshape(rows, self.vocab).astype(np.float64))
        return np.concatenate(outs) if len(outs) > 1 else outs[0]

    def prefill(self, tokens):
        """Evaluate tokens reusing the longest common prefix with the current state (like TaskRunner)."""
        common = 0
        while common < min(len(self.cur), len(tokens) - 1) and self.cur[common] == tokens[common]:
            common += 1
        logits = self._eval(tokens[common:], common, False)[-1]
        self.cur = list(tokens)
        return logits

    @staticmethod
    def logsoftmax(x):
        m = x.max()
        return x - (m + math.log(np.exp(x - m).sum()))

    def label_logprobs(self, prompt, label_ids):
        """Per label: the list of token log-probs (label tokens + end marker) after prompt."""
        first = self.logsoftmax(self.prefill(prompt))
        base = len(prompt)
        out = []
        for ids in label_ids:
            lp = [first[ids[0]]]
            if len(ids) > 1:
                rows = self._eval(ids[:-1], base, True)
                for j in range(1, len(ids)):
                    lp.append(self.logsoftmax(rows[j - 1])[ids[j]])
            out.append(lp)
        self.llm._ctx.kv_cache_seq_rm(-1, base, -1)
        self.cur = self.cur[:base]
        return out


def score_family_channel(scorer, fam, cfg, splits, shots_k):
    """Noisy-channel scoring: log P(text | label) for each label (Min et al. 2022), the text's tokens after a
    prompt that names the label; demonstrations in the same direction."""
    labels = fam["labels"]
    shots = []
    if shots_k > 0:
        per = {}
        for t, l, s in fam["rows"]:
            if s == "examples":
                per.setdefault(labels.index(l), []).append(t)
        for r in range(shots_k):
            for i in range(len(labels)):
                if r < len(per.get(i, [])):
                    shots.append((per[i][r], i))
    words = humanise_set(labels)
    spelled = [capitalise(w) for w in words]
    descs = fam["descriptions"] if cfg.get("descriptions", True) else None
    lines = [cfg.get("channel_instruction", "Write a text of the given label.")]
    if descs and any(descs):
        lines.append("Labels:")
        for sp, d in zip(spelled, descs):
            lines.append(f"- {sp}: {d}" if d else f"- {sp}")
    system = "\n".join(lines)
    bos = [scorer.llm.token_bos()] if scorer.add_bos else []
    if scorer.chat:
        prefix = f"<|im_start|>system\n{system}<|im_end|>\n"
        for t, i in shots:
            prefix += f"<|im_start|>user\nLabel: {spelled[i]}<|im_end|>\n<|im_start|>assistant\nText: {t}<|im_end|>\n"
        prefix += "<|im_start|>user\nLabel:"
        tail = "<|im_end|>\n<|im_start|>assistant\nText:"
        end = "<|im_end|>"
    else:
        prefix = system + "\n\n"
        for t, i in shots:
            prefix += f"Label: {spelled[i]}\nText: {t}\n\n"
        prefix += "Label:"
        tail = "\nText:"
        end = "\n"
    # Twin of TaskRunner.channelPrompt: tok(prefix) + tok(" Label") + tok(tail), then tok(" text") + end.
    ptoks = bos + scorer.tok(prefix)
    mids = [scorer.tok(" " + spelled[i]) + scorer.tok(tail) for i in range(len(labels))]
    endt = scorer.tok(end)[:1] if cfg.get("eot", True) else []
    rows = []
    for t, l, s in fam["rows"]:
        if s not in splits:
            continue
        t0 = time.time()
        body = scorer.tok(" " + t) + endt
        lp = []
        for i in range(len(labels)):
            toks = ptoks + mids[i] + body
            common = 0
            while common < min(len(scorer.cur), len(toks) - 1) and scorer.cur[common] == toks[common]:
                common += 1
            start = len(ptoks) + len(mids[i])  # index of the first body token
            common = min(common, start - 1)
            out = scorer._eval(toks[common:], common, True)
            scorer.cur = list(toks)
            tot = []
            for j in range(start, len(toks)):
                row = out[j - 1 - common]
                tot.append(Scorer.logsoftmax(row)[toks[j]])
            lp.append(tot)
        rows.append({"text": t, "label": labels.index(l), "split": s, "lp": lp, "ms": (time.time() - t0) * 1000})
    return {"cf": [], "rows": rows, "labels": labels, "spelled": spelled}


def reduce(lp, norm):
    if norm == "sum":
        return sum(lp)
    if norm == "first":
        return lp[0]
    return sum(lp) / len(lp)


def softmax(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def fit_temperature(rows):
    """Golden-section search on log T in [0.05, 20] minimising NLL (TemperatureScaling.fit)."""
    if not rows:
        return 1.0
    def nll(logt):
        t = math.exp(logt)
        tot = 0
        for s, y in rows:
            z = np.asarray(s) / t
            m = z.max()
            tot += m + math.log(np.exp(z - m).sum()) - z[y]
        return tot
    a, b = math.log(0.05), math.log(20.0)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(60):
        if nll(c) < nll(d):
            b = d
        else:
            a = c
        c, d = b - g * (b - a), a + g * (b - a)
    return math.exp((a + b) / 2)


def ece(items, bins=10):
    if not items:
        return 0.0
    tot = 0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = [(c, ok) for c, ok in items if (lo < c <= hi) or (b == 0 and c == 0)]
        if sel:
            acc = sum(ok for _, ok in sel) / len(sel)
            conf = sum(c for c, _ in sel) / len(sel)
            tot += len(sel) / len(items) * abs(acc - conf)
    return tot


def macro_f1(pairs, labels):
    f1s = []
    for l in labels:
        tp = sum(1 for y, p in pairs if y == l and p == l)
        fp = sum(1 for y, p in pairs if y != l and p == l)
        fn = sum(1 for y, p in pairs if y == l and p != l)
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


def score_family(scorer, fam, cfg, splits, shots_k):
    """Raw per-label token log-probs of every row in `splits` and of the content-free inputs."""
    labels = fam["labels"]
    shots = []
    if shots_k > 0:
        ex = [(t, labels.index(l)) for t, l, s in fam["rows"] if s == "examples"]
        per = {}
        for t, i in ex:
            per.setdefault(i, []).append(t)
        # k per label, interleaved: round r gives each label's r-th example
        for r in range(shots_k):
            for i in range(len(labels)):
                if r < len(per.get(i, [])):
                    shots.append((per[i][r], i))
    pr = Prompter(scorer.chat, labels, fam["descriptions"], shots, cfg)
    label_ids = []
    for s in pr.spelled:
        ids = scorer.tok(" " + s)
        if cfg.get("eot", True):
            ids = ids + [scorer.eot]
        label_ids.append(ids)
    def prompt(text):
        p, t, a = pr.render(text)
        return ([scorer.llm.token_bos()] if scorer.add_bos else []) + scorer.tok(p) + scorer.tok(t) + scorer.tok(a)
    cf = [scorer.label_logprobs(prompt(c), label_ids) for c in cfg.get("cf", CF_INPUTS)]
    rows = []
    for t, l, s in fam["rows"]:
        if s in splits:
            t0 = time.time()
            lp = scorer.label_logprobs(prompt(t), label_ids)
            rows.append({"text": t, "label": labels.index(l), "split": s, "lp": lp, "ms": (time.time() - t0) * 1000})
    return {"cf": cf, "rows": rows, "labels": labels, "spelled": pr.spelled}


def calibrated(res, norm, calibration):
    cfs = [[reduce(lp, norm) for lp in c] for c in res["cf"]]
    bias = np.mean(np.array(cfs), axis=0) if calibration == "contextual" and cfs else np.zeros(len(res["labels"]))
    out = []
    for r in res["rows"]:
        s = np.array([reduce(lp, norm) for lp in r["lp"]]) - bias
        out.append((s, r))
    return out


def lsm(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max()
    return x - (m + math.log(np.exp(x - m).sum()))


def channel_setting(direct, channel, args):
    """Combined scores as EdgeLM's TaskRunner.classify with its channel setting (skip, top k, coverage): `direct` and
    `channel` are the halves' log-softmaxes over every label (the channel half is scored for all, then only the
    chosen labels' scores are used)."""
    n = len(direct)
    p = softmax(direct / args.skip_temperature)
    if args.channel_skip is not None and p.max() >= args.channel_skip:
        return 2 * direct
    if args.channel_top_k is None or args.channel_top_k >= n:
        return direct + channel
    order = sorted(range(n), key=lambda i: (-direct[i], i))
    m = max(1, args.channel_top_k)
    if args.channel_coverage is not None:
        held = sum(p[i] for i in order[:m])
        while m < n and held < args.channel_coverage:
            held += p[order[m]]
            m += 1
    top = sorted(order[:m])
    mx = max(direct[i] for i in top)
    mass = mx + math.log(sum(math.exp(direct[i] - mx) for i in top))
    within = lsm([channel[i] for i in top])
    q = direct.copy()
    for j, i in enumerate(top):
        q[i] = mass + within[j]
    return direct + q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="docs/data/classify-families.jsonl")
    ap.add_argument("--split", default="heldout")
    ap.add_argument("--fit-split", default=None)
    ap.add_argument("--shots", type=int, default=2)
    ap.add_argument("--norm", default="mean", help="direct label score: mean or sum of token log-probs")
    ap.add_argument("--calibration", default="contextual", help="direct scores: contextual or none")
    ap.add_argument("--scoring", default="combined", help="combined, direct or channel")
    ap.add_argument("--temperature", type=float, default=None)
    ap.add_argument("--cfg", default="{}", help="prompt options as JSON (humanise, descriptions, list, capitalise, eot, instruction)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default="/tmp/clscache")
    ap.add_argument("--channel-skip", type=float, default=None,
                    help="combined: skip the channel half when the direct half's best label has at least P at --skip-temperature")
    ap.add_argument("--channel-top-k", type=int, default=None, help="combined: channel half for the direct half's K best labels only")
    ap.add_argument("--channel-coverage", type=float, default=None,
                    help="with --channel-top-k: add labels until they hold at least P of the direct half's probability")
    ap.add_argument("--skip-temperature", type=float, default=1.0,
                    help="temperature of the direct half's distribution for the skip and the coverage (EdgeLM's skipTemperature)")
    args = ap.parse_args()
    cfg = json.loads(args.cfg)
    fams = load(args.data)
    scorer = Scorer(args.model, threads=args.threads)
    splits = {args.split} | ({args.fit_split} if args.fit_split else set())
    os.makedirs(args.cache, exist_ok=True)

    def cached(name, fam, channel):
        c = dict(cfg, channel=True) if channel else {k: v for k, v in cfg.items() if k != "channel"}
        key = hashlib.sha1(json.dumps([args.model, args.data, name, sorted(splits), args.shots, c, "v3" if channel else "v2"],
                                      sort_keys=True).encode()).hexdigest()
        cp = os.path.join(args.cache, key)
        if os.path.exists(cp):
            return pickle.load(open(cp, "rb"))
        r = (score_family_channel if channel else score_family)(scorer, fam, c, splits, args.shots)
        pickle.dump(r, open(cp, "wb"))
        return r

    # Per family: [(scores before temperature, row)] for the chosen scoring.
    scored = {}
    for name, fam in fams.items():
        parts = []
        if args.scoring in ("direct", "combined"):
            parts.append(calibrated(cached(name, fam, False), args.norm, args.calibration))
        if args.scoring in ("channel", "combined"):
            parts.append(calibrated(cached(name, fam, True), "sum", "none"))
        rows = []
        for items in zip(*parts):
            r = items[0][1]
            if len(items) == 1:
                s = items[0][0]
            else:
                s = channel_setting(lsm(items[0][0]), lsm(items[1][0]), args)
            rows.append((np.asarray(s), r, sum(x[1]["ms"] for x in items)))
        scored[name] = (rows, fam["labels"])
    T = args.temperature
    if T is None and args.fit_split:
        T = fit_temperature([(s, r["label"]) for rows, _ in scored.values() for s, r, _ in rows if r["split"] == args.fit_split])
    T = T or 1.0
    report = {"model": os.path.basename(args.model), "split": args.split, "shots": args.shots, "norm": args.norm,
              "calibration": args.calibration, "scoring": args.scoring, "temperature": T, "cfg": cfg, "families": {}}
    allitems, allcal, ms = [], [], []
    for name, (rows, labels) in scored.items():
        pairs, cal = [], []
        for s, r, t in rows:
            if r["split"] != args.split:
                continue
            p = softmax(s / T)
            pred = int(p.argmax())
            pairs.append((r["label"], pred))
            cal.append((float(p.max()), pred == r["label"]))
            ms.append(t)
        if not pairs:
            continue
        acc = sum(y == p for y, p in pairs) / len(pairs)
        report["families"][name] = {"accuracy": acc, "correct": sum(y == p for y, p in pairs), "total": len(pairs),
                                    "macro_f1": macro_f1(pairs, range(len(labels))), "ece": ece(cal)}
        allitems += [y == p for y, p in pairs]
        allcal += cal
    report["accuracy"] = sum(allitems) / len(allitems)
    report["correct"], report["total"] = sum(allitems), len(allitems)
    report["ece"] = ece(allcal)
    report["macro_f1"] = float(np.mean([f["macro_f1"] for f in report["families"].values()]))
    report["min_family_accuracy"] = float(min(f["accuracy"] for f in report["families"].values()))
    report["latency_p50_ms"] = float(np.median(ms)) if ms else 0
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{report['model']} split={args.split} scoring={args.scoring} shots={args.shots} norm={args.norm} cal={args.calibration} T={T:.3f} cfg={cfg}")
        for n, f in report["families"].items():
            print(f"  {n:28s} {f['correct']:3d}/{f['total']:3d} {100*f['accuracy']:5.1f}%  F1 {f['macro_f1']:.2f}  ECE {f['ece']:.2f}")
        print(f"  overall {report['correct']}/{report['total']} = {100*report['accuracy']:.1f}%  macro-F1 {report['macro_f1']:.3f}  min family {100*report['min_family_accuracy']:.0f}%  ECE {report['ece']:.3f}  p50 {report['latency_p50_ms']:.0f} ms")


if __name__ == "__main__":
    main()
