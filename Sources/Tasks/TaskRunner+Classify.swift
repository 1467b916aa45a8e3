// Tasks: classification by label likelihood — the prompt of a label set (shared prefix + per-input rest),
// label scoring from the prefix's KV state, contextual calibration and temperature.

import EdgeLMEssentials
import Inference
import Kernels
import Tokenizers

/// The prompt of one label set: the shared prefix (instruction, label list, descriptions, few-shot examples —
/// identical for every input) and how each input continues it.
struct ClassificationPrompt {
    /// Tokens of the shared prefix (BOS included); its KV state is reused across inputs.
    let prefix: [Int32]
    /// Text between the prefix and the input, and after the input (the answer opened with `Label:`).
    let before: String
    let after: String
    /// Per label: the tokens scored (its capitalised words with a leading space, then the end marker).
    let labelTokens: [[Int32]]
    /// The spelled answer of each label (` Billing`, ` Technical issue`).
    let spelled: [String]
}

/// The channel prompt of one label set: each label's text is scored after a prompt that names the label.
struct ChannelPrompt {
    /// The shared prefix (BOS, the instruction, descriptions, examples written label-first, then `Label:`).
    let prefix: [Int32]
    /// Per label: its words, the turn change and `Text:`.
    let mids: [[Int32]]
}

/// What a channel fork holds between calls (batched channel scoring): the channel prefix and one label's words,
/// and the logits after them — they predict the text's first token.
struct ChannelMid {
    /// The fork's tokens (prefix + the label's mid).
    let tokens: [Int32]
    /// (vocabulary) logits after the last of `tokens`, and their log-sum-exp.
    let logits: [Float]
    let logSumExp: Double
}

extension TaskRunner {
    /// The token that ends an answer: end of turn for chat models, a newline for plain-text prompts.
    var answerEnd: Int32? {
        if template.style == .plainText {
            let nl = tokenizer.encode("\n", parseSpecial: false)
            return nl.count == 1 ? nl[0] : endOfTurn
        }
        return endOfTurn
    }

    /// Builds the prompt of `set`. Chat models: a system turn with the instruction (default "Classify the
    /// text."), `Answer with exactly one of: A, B.` and, when any label has one, a `Labels:` list of
    /// `- Label: description` lines; each few-shot example as a user turn `Text: …` answered `Label: …`; the
    /// input as the last user turn `Text: …`; the assistant's answer opened with `Label:`. Base models
    /// (plain-text prompts): the same lines, a blank line, each example as `Text: …\nLabel: …` and a blank
    /// line, then `Text: …\nLabel:`. Chosen on the tune split of docs/data/classify-families.jsonl (docs/tasks.md).
    func classificationPrompt(_ set: LabelSet) -> ClassificationPrompt {
        let spelledWords = set.words.map(LabelWords.capitalised)
        var lines = [set.instruction ?? "Classify the text."]
        lines.append("Answer with exactly one of: " + spelledWords.joined(separator: ", ") + ".")
        if set.labels.contains(where: { $0.description != nil }) {
            lines.append("Labels:")
            for (w, spec) in zip(spelledWords, set.labels) {
                lines.append(spec.description.map { "- \(w): \($0)" } ?? "- \(w)")
            }
        }
        let system = lines.joined(separator: "\n")
        let shots = set.shots
        var prefixText: String
        let before = "Text: "
        let after: String
        if template.style == .plainText {
            prefixText = system + "\n\n"
            for s in shots { prefixText += "Text: \(s.text)\nLabel: \(spelledWords[s.label])\n\n" }
            after = "\nLabel:"
        } else {
            var messages: [ChatMessage] = [.system(system)]
            for s in shots { messages += [.user("Text: \(s.text)"), .assistant("Label: \(spelledWords[s.label])")] }
            let marker = "\u{1}EDGELM-INPUT\u{1}"
            messages.append(.user(marker))
            let rendered = template.render(messages)
            let r = rendered.firstRange(of: marker)!
            prefixText = String(rendered[..<r.lowerBound])
            after = String(rendered[r.upperBound...]) + "Label:"
        }
        var prefix: [Int32] = []
        if tokenizer.addBOS, let bos = tokenizer.bosID { prefix.append(bos) }
        prefix += tokenizer.encode(prefixText, parseSpecial: true)
        let end = options.scoreEndOfTurn ? answerEnd : nil
        let labelTokens = spelledWords.map { w -> [Int32] in
            var ids = tokenizer.encode(" " + w, parseSpecial: false)
            if let end { ids.append(end) }
            return ids
        }
        return ClassificationPrompt(prefix: prefix, before: before, after: after, labelTokens: labelTokens,
                                    spelled: spelledWords.map { " " + $0 })
    }

    /// The whole prompt for `text`: the prefix, then `Text: <text>` and the opened answer (user text is
    /// tokenized without special tokens, so a text cannot forge turn markers).
    func classificationTokens(_ p: ClassificationPrompt, text: String) -> [Int32] {
        p.prefix + tokenizer.encode(p.before + text, parseSpecial: false) + tokenizer.encode(p.after, parseSpecial: true)
    }

    /// Evaluates `prompt` whose first `shared` tokens are a label set's prefix (see ``ensurePrefix(_:_:)``).
    private func prefillClassification(_ prompt: [Int32], shared: Int, _ timings: inout TaskTimings) throws -> [Float] {
        guard prompt.count < session.contextLength else {
            throw TasksError.inputTooLong(tokens: prompt.count, contextLength: session.contextLength)
        }
        guard shared > 0 && shared < prompt.count else { return try prefillReusing(prompt, &timings) }
        try ensurePrefix(Array(prompt[0..<shared]), &timings)
        // Always evaluate the rest from the prefix on (not from a longer match with the previous input): the
        // computation, and so the rounding, is then the same whatever the runner evaluated before.
        session.truncate(to: shared)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let logits = Array(try session.prefill(Array(prompt[shared...])))
        timings.prefillSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        timings.promptTokens += prompt.count - shared
        return logits
    }

    /// Whether label scoring runs batched on sibling sessions (``TaskOptions/batchedLabels``).
    var batchedLabels: Bool { options.batchedLabels && options.memoryBudget == nil }

    /// At least `count` sibling sessions of ``session`` in `pool` (made on first use).
    func siblings(_ pool: inout [Session], count: Int) throws -> [Session] {
        while pool.count < count { pool.append(try session.makeSibling()) }
        return Array(pool[0..<count])
    }

    /// Log-likelihood of each label's tokens after `prompt`, one array of per-token log-probabilities per label.
    /// One prefill of the prompt; then each label continues from its KV state: batched
    /// (``TaskOptions/batchedLabels``), the first label in the session and every other one in a sibling forked
    /// from it, all in shared steps; else one label after another, each truncated away afterwards.
    func labelLogProbs(prompt: [Int32], shared: Int, labels: [[Int32]], timings: inout TaskTimings) throws -> [[Double]] {
        let first = try prefillClassification(prompt, shared: shared, &timings)
        let base = session.position
        let firstLSE = Self.logSumExp(first)
        var out = labels.map { [Double(first[Int($0[0])]) - firstLSE] }
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { timings.decodeSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        let longest = labels.map(\.count).max() ?? 0
        guard longest > 1 else { return out }
        guard base + longest - 1 <= session.contextLength else {
            throw TasksError.inputTooLong(tokens: base + longest, contextLength: session.contextLength)
        }
        let continued = labels.indices.filter { labels[$0].count > 1 }
        if batchedLabels && continued.count > 1 {
            let forks = try siblings(&directForks, count: continued.count - 1)
            for f in forks { try f.copyState(from: session) }
            let sessions = [session] + forks
            defer { session.truncate(to: base) }
            try Session.evaluateAll(continued.enumerated().map { (sessions[$0.offset], Array(labels[$0.element].dropLast())) }) { part, i, logits in
                let ids = labels[continued[part]]
                out[continued[part]].append(Double(logits[Int(ids[i + 1])]) - Self.logSumExp(logits))
            }
            for l in continued { timings.generatedTokens += labels[l].count - 1 }
            return out
        }
        for l in continued {
            let ids = labels[l]
            try session.evaluateAll(Array(ids.dropLast())) { i, logits in
                out[l].append(Double(logits[Int(ids[i + 1])]) - Self.logSumExp(logits))
            }
            timings.generatedTokens += ids.count - 1
            session.truncate(to: base)
        }
        return out
    }

    /// The channel prompt of `set` (``ClassifierScoring/channel``): a system turn "Write a text of the given
    /// label." with the `Labels:` descriptions, each example as a user turn `Label: …` answered `Text: …`, then
    /// `Label: <label>` and the answer opened with `Text:`; base models: the same as plain text
    /// (`Label: …\nText: …` blocks). The input's text is scored after it (``channelScores(_:text:timings:)``).
    func channelPrompt(_ set: LabelSet) -> ChannelPrompt {
        let spelledWords = set.words.map(LabelWords.capitalised)
        var lines = ["Write a text of the given label."]
        if set.labels.contains(where: { $0.description != nil }) {
            lines.append("Labels:")
            for (w, spec) in zip(spelledWords, set.labels) {
                lines.append(spec.description.map { "- \(w): \($0)" } ?? "- \(w)")
            }
        }
        let system = lines.joined(separator: "\n")
        var prefixText: String
        let afterLabel: String
        if template.style == .plainText {
            prefixText = system + "\n\n"
            for s in set.shots { prefixText += "Label: \(spelledWords[s.label])\nText: \(s.text)\n\n" }
            prefixText += "Label:"
            afterLabel = "\nText:"
        } else {
            var messages: [ChatMessage] = [.system(system)]
            for s in set.shots { messages += [.user("Label: \(spelledWords[s.label])"), .assistant("Text: \(s.text)")] }
            let marker = "\u{1}EDGELM-LABEL\u{1}"
            messages.append(.user("Label:" + marker))
            let rendered = template.render(messages)
            let r = rendered.firstRange(of: marker)!
            prefixText = String(rendered[..<r.lowerBound])
            afterLabel = String(rendered[r.upperBound...]) + "Text:"
        }
        var prefix: [Int32] = []
        if tokenizer.addBOS, let bos = tokenizer.bosID { prefix.append(bos) }
        prefix += tokenizer.encode(prefixText, parseSpecial: true)
        let tail = tokenizer.encode(afterLabel, parseSpecial: true)
        return ChannelPrompt(prefix: prefix, mids: spelledWords.map { tokenizer.encode(" " + $0, parseSpecial: false) + tail })
    }

    /// Makes the session start with `prefix`: kept when it already does, else restored from the
    /// ``prefixCache`` (or evaluated and cached there), else evaluated after the longest common prefix.
    func ensurePrefix(_ prefix: [Int32], _ timings: inout TaskTimings) throws {
        try ensurePrefix(prefix, in: session, &timings)
    }

    /// ``ensurePrefix(_:_:)`` for `session` (the runner's, or one of its siblings).
    func ensurePrefix(_ prefix: [Int32], in session: Session, _ timings: inout TaskTimings) throws {
        guard !prefix.isEmpty else { return }
        guard prefix.count < session.contextLength else {
            throw TasksError.inputTooLong(tokens: prefix.count, contextLength: session.contextLength)
        }
        let have = session.tokens
        if have.count >= prefix.count && Array(have[0..<prefix.count]) == prefix { return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { timings.prefillSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        if let cache = prefixCache {
            let hits = cache.hits
            session.reset()
            try session.prefill(prefix, reusingPrefix: prefix.count, from: cache)
            if cache.hits == hits { timings.promptTokens += prefix.count }
            return
        }
        var common = 0
        while common < min(have.count, prefix.count), have[common] == prefix[common] { common += 1 }
        session.truncate(to: common)
        if common < prefix.count {
            _ = try session.prefill(Array(prefix[common...]))
            timings.promptTokens += prefix.count - common
        }
    }

    /// Channel scores: for each of `labels` (indices into `p.mids`; nil: all), the log-likelihood of the text (and
    /// the end-of-answer token) after the prompt names that label — log P(text | label). Batched
    /// (``TaskOptions/batchedLabels``): each label on one of `channelForks` (as many as labels scored), which keeps
    /// the prefix *and* the label's words between calls, with the logits after them (``ChannelMid``) — per input
    /// only the text is evaluated when the label was scored on the previous call too, every label's in shared
    /// steps. Else one label after another in the session: its words, then the text. Either way a label's words
    /// are evaluated after the prefix and the text after them, in separate calls, so both paths round the same.
    func channelScores(_ p: ChannelPrompt, labels: [Int]? = nil, text: String, timings: inout TaskTimings) throws -> [Double] {
        let labels = labels ?? Array(p.mids.indices)
        var body = tokenizer.encode(" " + text, parseSpecial: false)
        if options.scoreEndOfTurn, let end = answerEnd { body.append(end) }
        guard !body.isEmpty else { return [Double](repeating: 0, count: labels.count) }
        let longest = p.prefix.count + (labels.map { p.mids[$0].count }.max() ?? 0) + body.count
        guard longest <= session.contextLength else {
            throw TasksError.inputTooLong(tokens: longest, contextLength: session.contextLength)
        }
        let rest = Array(body.dropLast())   // body[i + 1] is predicted by the logits after rest[i]
        var scores = [Double](repeating: 0, count: labels.count)
        if batchedLabels && labels.count > 1 {
            // One sibling per label scored (the pool grows to the most labels a call has scored, so memory stays
            // that many prefix copies): a label whose words a sibling of the pool already holds (scored on an
            // earlier call) reuses it; the others take the siblings no label of this call needs and evaluate their
            // words after the prefix.
            _ = try siblings(&channelForks, count: labels.count)
            let forks = channelForks
            if channelMids.count < forks.count { channelMids += [ChannelMid?](repeating: nil, count: forks.count - channelMids.count) }
            var slot = [Int](repeating: -1, count: labels.count)
            var taken = [Bool](repeating: false, count: forks.count)
            for (j, l) in labels.enumerated() {
                let want = p.prefix + p.mids[l]
                if let f = forks.indices.first(where: { !taken[$0] && channelMids[$0]?.tokens == want && forks[$0].tokens == want }) {
                    slot[j] = f; taken[f] = true
                }
            }
            var stale: [Int] = []   // indices into labels
            for j in labels.indices where slot[j] < 0 {
                let f = taken.firstIndex(of: false)!
                slot[j] = f; taken[f] = true
                stale.append(j)
            }
            if let first = stale.first.map({ forks[slot[$0]] }) {
                // The label's words after the prefix (kept by the sibling for the next calls).
                try ensurePrefix(p.prefix, in: first, &timings)
                first.truncate(to: p.prefix.count)
                for j in stale.dropFirst() { try forks[slot[j]].copyState(from: first) }
                let t0 = DispatchTime.now().uptimeNanoseconds
                var last = [[Float]](repeating: [], count: stale.count)
                try Session.evaluateAll(stale.map { (forks[slot[$0]], p.mids[labels[$0]]) }) { part, i, logits in
                    if i == p.mids[labels[stale[part]]].count - 1 { last[part] = Array(logits) }
                }
                for (k, j) in stale.enumerated() {
                    let mid = p.mids[labels[j]]
                    channelMids[slot[j]] = ChannelMid(tokens: p.prefix + mid, logits: last[k], logSumExp: Self.logSumExp(last[k]))
                    timings.promptTokens += mid.count
                }
                timings.prefillSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
            for j in labels.indices {
                let m = channelMids[slot[j]]!
                scores[j] = Double(m.logits[Int(body[0])]) - m.logSumExp
            }
            guard !rest.isEmpty else { return scores }
            let t0 = DispatchTime.now().uptimeNanoseconds
            defer { for j in labels.indices { forks[slot[j]].truncate(to: p.prefix.count + p.mids[labels[j]].count) } }
            try Session.evaluateAll(labels.indices.map { (forks[slot[$0]], rest) }) { part, i, logits in
                scores[part] += Double(logits[Int(body[i + 1])]) - Self.logSumExp(logits)
            }
            timings.promptTokens += labels.count * rest.count
            timings.prefillSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            return scores
        }
        try ensurePrefix(p.prefix, &timings)
        let t0 = DispatchTime.now().uptimeNanoseconds
        for (j, l) in labels.enumerated() {
            // From the prefix on, every time (see prefillClassification).
            session.truncate(to: p.prefix.count)
            let mid = p.mids[l]
            try session.evaluateAll(mid) { i, logits in
                if i == mid.count - 1 { scores[j] = Double(logits[Int(body[0])]) - Self.logSumExp(logits) }
            }
            if !rest.isEmpty {
                try session.evaluateAll(rest) { i, logits in
                    scores[j] += Double(logits[Int(body[i + 1])]) - Self.logSumExp(logits)
                }
            }
            timings.promptTokens += mid.count + rest.count
        }
        timings.prefillSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return scores
    }

    /// Log-softmax of `x`.
    static func logSoftmax(_ x: [Double]) -> [Double] {
        let m = x.max() ?? 0
        let lse = m + log(x.reduce(0) { $0 + exp($1 - m) })
        return x.map { $0 - lse }
    }

    /// A label's score from its per-token log-probabilities (``TaskOptions/labelScore``).
    func reduceScore(_ lp: [Double]) -> Double {
        switch options.labelScore {
        case .mean: return lp.reduce(0, +) / Double(lp.count)
        case .sum: return lp.reduce(0, +)
        }
    }

    /// Classifies `text` into one of `labels` (see ``classify(_:labelSet:)``).
    public func classify(_ text: String, labels: [String], instruction: String? = nil) throws -> Classification {
        try classify(text, labelSet: LabelSet(labels, instruction: instruction))
    }

    /// Classifies `text` into one of the labels of `labelSet` by the likelihood of each label as the model's answer.
    ///
    /// Each label is scored as the answer after `Label:` — its words (``LabelSet/words``: humanised, first letter
    /// capitalised, after a space) plus the end-of-answer token — by its mean per-token log-likelihood
    /// (``TaskOptions/labelScore``). By default the scores are contextually calibrated (the scores the same
    /// prompt gives content-free inputs are subtracted; computed once per label set and cached) and divided by
    /// the temperature (``calibrateTemperature(examples:labelSet:)`` for this set, else
    /// ``TaskOptions/temperature``, else the model's default ``defaultTemperature``) before the softmax.
    /// Results name the labels exactly as given.
    /// - Throws: ``TasksError/invalidLabels(_:)``, ``TasksError/invalidExamples(_:)``,
    ///   ``TasksError/inputTooLong(tokens:contextLength:)``.
    /// - Complexity: the label set's prefix (instruction, descriptions, examples) is evaluated once per label
    ///   set — kept in the session between calls and in the runner's ``prefixCache`` — then per input one
    ///   prefill of `Text: …` plus the labels' tokens (in shared steps with ``TaskOptions/batchedLabels``, else
    ///   one label after another); the channel half (combined scoring, unless skipped) one evaluation of the text
    ///   per label, or per each of the direct half's k best labels (``channelSetting(fewShot:)``), after the label's
    ///   words (kept between calls when batched); the first call per label set also scores the content-free inputs.
    /// - Memory: batched, up to N − 1 + k sibling sessions for N labels (k: the most channel labels an input has
    ///   needed — up to N when ``TaskOptions/channelCoverage`` widens the k best), each backing KV pages for the
    ///   label set's prefix, and one vocabulary row of logits per channel label.
    public func classify(_ text: String, labelSet: LabelSet) throws -> Classification {
        let start = DispatchTime.now().uptimeNanoseconds
        try labelSet.validate()
        let p = classificationPrompt(labelSet)
        guard Set(p.labelTokens).count == p.labelTokens.count else {
            throw TasksError.invalidLabels("labels are spelled the same: \(labelSet.names)")
        }
        var timings = TaskTimings()
        var raw = [Double](repeating: 0, count: labelSet.labels.count)
        if options.scoring != .channel {
            raw = try labelLogProbs(prompt: classificationTokens(p, text: text), shared: p.prefix.count,
                                    labels: p.labelTokens, timings: &timings).map(reduceScore)
            if options.calibration == .contextual {
                let bias = try contextualBias(labelSet, prompt: p, timings: &timings)
                for i in raw.indices { raw[i] -= bias[i] }
            }
        }
        var skipped = false
        var channelLabels = 0
        let channel = channelSetting(fewShot: !labelSet.shots.isEmpty)
        // The direct half's own distribution is read at the skip temperature (the skip, the coverage).
        let skipT = options.temperature ?? skipTemperature(fewShot: !labelSet.shots.isEmpty)
        if options.scoring == .combined, let skip = channel.skip {
            // The direct half is already sure: the channel half (an evaluation of the text per label) is left
            // out and the direct half stands in for it, so the scores are twice the direct log-softmax.
            let direct = Self.logSoftmax(raw)
            if (Self.softmax(direct.map { $0 / skipT }).max() ?? 0) >= skip { raw = direct.map { 2 * $0 }; skipped = true }
        }
        if options.scoring == .combined && !skipped, let k = channel.topK, k < raw.count {
            // The channel half only for the direct half's k best labels (more while they hold less than the
            // coverage): within them it redistributes the direct half's mass on them; the others keep the direct
            // half as their stand-in (as a skip does).
            let direct = Self.logSoftmax(raw)
            let top = Self.channelLabelIndices(direct: direct, k: k, coverage: channel.coverage, temperature: skipT)
            let channel = try channelScores(channelPrompt(labelSet), labels: Array(top), text: text, timings: &timings)
            let m = top.map { direct[$0] }.max()!
            let mass = m + log(top.reduce(0) { $0 + exp(direct[$1] - m) })   // log of the direct mass on them
            let within = Self.logSoftmax(channel)
            var q = direct
            for (j, i) in top.enumerated() { q[i] = mass + within[j] }
            raw = zip(direct, q).map { $0 + $1 }
            channelLabels = top.count
        } else if options.scoring != .direct && !skipped {
            let channel = try channelScores(channelPrompt(labelSet), text: text, timings: &timings)
            raw = options.scoring == .channel ? channel
                : zip(Self.logSoftmax(raw), Self.logSoftmax(channel)).map { $0 + $1 }
            channelLabels = raw.count
        }
        let t = temperature(for: labelSet)
        let bias = biases[labelSet]
        let probs = Self.softmax(raw.indices.map { raw[$0] / t + (bias?[$0] ?? 0) })
        let best = probs.indices.max { probs[$0] < probs[$1] }!
        timings.totalSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Classification(label: labelSet.names[best], labels: labelSet.names, probabilities: probs,
                              rawScores: raw, timings: timings, channelSkipped: skipped, channelLabels: channelLabels)
    }

    /// The temperature `classify` uses for `set`: fitted for it, else ``TaskOptions/temperature``, else the
    /// model's default for this kind of label set (``defaultTemperature(fewShot:)``).
    public func temperature(for set: LabelSet) -> Double {
        temperatures[set] ?? options.temperature ?? defaultTemperature(fewShot: !set.shots.isEmpty)
    }

    /// The default temperature with (or without) few-shot examples: fitted on the tune split of
    /// docs/data/classify-families.jsonl for this model's architecture and prompt style with the default scoring
    /// (combined, mean label log-probability, contextual calibration); 1 for other models or settings.
    public func defaultTemperature(fewShot: Bool) -> Double {
        temperatureKey(fewShot: fewShot).flatMap { Self.fittedTemperatures[$0] } ?? 1
    }

    /// The key of this runner's model, prompt style, scoring and kind of label set in ``fittedTemperatures`` and
    /// ``skipTemperatures``; nil when the options are not the ones those were fitted with (calibration, label
    /// score, end-of-answer token).
    private func temperatureKey(fewShot: Bool) -> String? {
        guard options.calibration == .contextual, options.labelScore == .mean, options.scoreEndOfTurn else { return nil }
        return "\(model.config.architecture)/\(template.style == .plainText ? "base" : "chat")/\(options.scoring.rawValue)"
            + (fewShot ? "/few-shot" : "/zero-shot")
    }

    /// The temperature at which the channel skip compares the direct half's best probability with
    /// the channel-skip threshold (``channelSetting(fewShot:)``): ``TaskOptions/temperature`` when set, else the model's default
    /// temperature as it was when the threshold was chosen on the tune split (2 examples per label; docs/tasks.md),
    /// kept apart from ``defaultTemperature(fewShot:)`` so that refitting that one does not move the skip rule.
    public func skipTemperature(fewShot: Bool) -> Double {
        temperatureKey(fewShot: fewShot).flatMap { Self.skipTemperatures[$0] } ?? 1
    }

    /// The labels whose channel half `classify` evaluates, in label order: the direct half's k best (ties to the
    /// earlier label), then the next ones in its order while those chosen hold less than `coverage` of its
    /// probability at `temperature` (`direct`: the direct half's log-softmax; nil coverage: exactly k).
    static func channelLabelIndices(direct: [Double], k: Int, coverage: Double?, temperature: Double) -> [Int] {
        let order = direct.indices.sorted { direct[$0] > direct[$1] || (direct[$0] == direct[$1] && $0 < $1) }
        var n = min(max(1, k), order.count)
        if let share = coverage {
            let p = softmax(direct.map { $0 / temperature })
            var held = order.prefix(n).reduce(0) { $0 + p[$1] }
            while n < order.count && held < share { held += p[order[n]]; n += 1 }
        }
        return order.prefix(n).sorted()
    }

    /// A channel setting: the skip threshold (nil: never skip), k (nil: every label) and the coverage (nil: exactly k).
    public typealias ChannelSetting = (skip: Double?, topK: Int?, coverage: Double?)

    /// The channel setting `classify` uses for label sets with (or without) examples — each part from
    /// ``TaskOptions/channelSkip`` / ``TaskOptions/channelLabels`` / ``TaskOptions/channelCoverage`` when given,
    /// else the model's tuned setting (``tunedChannel``), else ``defaultChannel`` (with examples) or
    /// ``zeroShotChannel``.
    public func channelSetting(fewShot: Bool) -> ChannelSetting {
        let tuned = temperatureKey(fewShot: fewShot).flatMap { Self.tunedChannel[$0] }
            ?? (fewShot ? Self.defaultChannel : Self.zeroShotChannel)
        let skip: Double? = switch options.channelSkip {
        case .tuned: tuned.skip
        case .never: nil
        case .atConfidence(let p): p
        }
        let topK: Int? = switch options.channelLabels {
        case .tuned: tuned.topK
        case .all: nil
        case .top(let k): k
        }
        let coverage: Double? = switch options.channelCoverage {
        case .tuned: tuned.coverage
        case .off: nil
        case .share(let p): p
        }
        return (skip, topK, coverage)
    }

    /// The channel settings of models without a tuned setting for label sets with examples: skip at 0.6, the
    /// direct half's best 3 (chosen on the tune split with SmolLM2, 4 examples per label), widened to hold 0.7 of
    /// the direct half's probability (``channelCoverage``: chosen on the tune split with 1, 2 and 4 examples per
    /// label; docs/tasks.md).
    static let defaultChannel: ChannelSetting = (0.6, 3, channelCoverage)

    /// The channel settings of label sets without examples: skip at 0.6, every label — without examples the direct
    /// half is too flat to rank the labels (on the tune split zero-shot, SmolLM2: every label 71.3 %, the best 3
    /// 64.7 %, the best 3 with coverage 0.7 65.4 %; the issue's probe "Book a one-way flight to Paris for two
    /// adults." ranked `book_flight` last of four; Gemma 3 70.6 % against 67.6 %; docs/tasks.md).
    static let zeroShotChannel: ChannelSetting = (0.6, nil, nil)

    /// The share of the direct half's probability the channel half's labels hold at least: the best mean tune
    /// accuracy over 1, 2 and 4 examples per label for SmolLM2's pair (0.7, 0.8, 0.85, 0.9, 0.95 and none tried),
    /// never below none with the default pair or Gemma 3 (docs/tasks.md, "Channel coverage").
    static let channelCoverage = 0.7

    /// Channel settings chosen on the tune split of docs/data/classify-families.jsonl per model and kind of label
    /// set (docs/tasks.md, "Accuracy against latency": the lowest median latency within about a point of the
    /// default's tune accuracy). Gemma 3 keeps ``defaultChannel`` (the SmolLM2 pair cost it 6.5 points held-out);
    /// without examples a threshold below ½ would leave every two-label set to the weak zero-shot direct half.
    static let tunedChannel: [String: ChannelSetting] = [
        "llama/chat/combined/few-shot": (0.4, 2, channelCoverage),   // SmolLM2-135M-Instruct
    ]

    /// The skip rule's temperatures (``skipTemperature(fewShot:)``): the fitted defaults of 2 examples per label.
    static let skipTemperatures: [String: Double] = [
        "llama/chat/combined/few-shot": 0.639,
        "llama/chat/combined/zero-shot": 0.843,
        "gemma3/base/combined/few-shot": 0.934,
        "gemma3/base/combined/zero-shot": 0.811,
    ]

    /// The default temperature of label sets with few-shot examples (``defaultTemperature(fewShot:)``).
    public var defaultTemperature: Double { defaultTemperature(fewShot: true) }

    /// Temperatures fitted on the tune split (`edgelm eval --task classify --fit-split tune`, the default 4
    /// examples per label and the model's channel setting (``channelSetting(fewShot:)``) for few-shot, none for
    /// zero-shot), per architecture, prompt style, scoring and kind of label set.
    static let fittedTemperatures: [String: Double] = [
        "llama/chat/combined/few-shot": 0.397,    // SmolLM2-135M-Instruct (its tuned channel setting: skip 0.4, top 2, coverage 0.7)
        "llama/chat/combined/zero-shot": 0.870,
        "gemma3/base/combined/few-shot": 0.583,   // Gemma 3 270M (base)
        "gemma3/base/combined/zero-shot": 0.992,
    ]

    /// The calibrated-away scores of the content-free inputs for a label set (cached per label set).
    func contextualBias(_ set: LabelSet, prompt p: ClassificationPrompt, timings: inout TaskTimings) throws -> [Double] {
        if let b = contextualCache[set] { return b }
        var bias = [Double](repeating: 0, count: set.labels.count)
        for cf in options.contentFreeInputs {
            let s = try labelLogProbs(prompt: classificationTokens(p, text: cf), shared: p.prefix.count,
                                      labels: p.labelTokens, timings: &timings).map(reduceScore)
            for i in bias.indices { bias[i] += s[i] / Double(options.contentFreeInputs.count) }
        }
        contextualCache[set] = bias
        return bias
    }

    /// Fits a softmax temperature for this label set on labelled examples (minimising their negative
    /// log-likelihood) and uses it in later `classify` calls with the same label set.
    /// - Returns: the fitted temperature.
    /// - Complexity: one `classify` per example plus a 1-D search.
    @discardableResult
    public func calibrateTemperature(examples: [(text: String, label: String)], labelSet: LabelSet) throws -> Double {
        let previous = temperatures[labelSet]
        temperatures[labelSet] = 1   // the log-probabilities at T = 1
        let rows: [(scores: [Double], target: Int)]
        do { rows = try calibrationRows(examples, labelSet: labelSet) } catch {
            temperatures[labelSet] = previous
            throw error
        }
        let t = TemperatureScaling.fit(rows)
        temperatures[labelSet] = t
        return t
    }

    /// Fits a temperature for `labels` (see ``calibrateTemperature(examples:labelSet:)``).
    @discardableResult
    public func calibrateTemperature(examples: [(text: String, label: String)], labels: [String],
                                     instruction: String? = nil) throws -> Double {
        try calibrateTemperature(examples: examples, labelSet: LabelSet(labels, instruction: instruction))
    }

    /// Sets (or clears, with nil) the temperature used for a label set.
    public func setTemperature(_ t: Double?, labelSet: LabelSet) { temperatures[labelSet] = t }

    /// Sets (or clears, with nil) per-label biases for a label set: added to the scores after the temperature,
    /// before the softmax (label order of the set; e.g. fitted by ``BiasCalibration/fit(_:count:regularization:)``
    /// on labelled examples of the set).
    public func setBiases(_ b: [Double]?, labelSet: LabelSet) {
        precondition(b == nil || b!.count == labelSet.labels.count, "setBiases: one bias per label")
        biases[labelSet] = b
    }

    /// Fits per-label biases for this label set on labelled examples (at its current temperature; minimising
    /// their negative log-likelihood, ``BiasCalibration``) and uses them in later `classify` calls with it: a
    /// label set whose answers lean one way (urgency: NORMAL read as URGENT) is pulled back. Use examples that
    /// are not the set's few-shot examples (those are in the prompt).
    /// - Returns: the fitted biases.
    /// - Complexity: one `classify` per example plus a small convex fit.
    @discardableResult
    public func calibrateBiases(examples: [(text: String, label: String)], labelSet: LabelSet) throws -> [Double] {
        let previous = biases[labelSet]
        biases[labelSet] = nil
        let rows: [(scores: [Double], target: Int)]
        do { rows = try calibrationRows(examples, labelSet: labelSet) } catch {
            biases[labelSet] = previous
            throw error
        }
        let b = BiasCalibration.fit(rows, count: labelSet.labels.count)
        biases[labelSet] = b
        return b
    }

    /// The rows the calibrations fit: per example, the log-probabilities `classify` gives it now (with the label
    /// set's current temperature and biases) and the index of its label.
    /// - Throws: ``TasksError/invalidLabels(_:)`` for an example whose label is not in the set; `classify`'s errors.
    private func calibrationRows(_ examples: [(text: String, label: String)],
                                 labelSet: LabelSet) throws -> [(scores: [Double], target: Int)] {
        try examples.map { e in
            guard let target = labelSet.names.firstIndex(of: e.label) else {
                throw TasksError.invalidLabels("example label '\(e.label)' is not one of \(labelSet.names)")
            }
            let c = try classify(e.text, labelSet: labelSet)
            return (c.probabilities.map { log(max($0, 1e-300)) }, target)
        }
    }

    /// Sets (or clears, with nil) the temperature used for `labels`.
    public func setTemperature(_ t: Double?, labels: [String], instruction: String? = nil) {
        setTemperature(t, labelSet: LabelSet(labels, instruction: instruction))
    }

    /// log Σ exp over a row of logits (``Ops/logSumExp(_:count:)``, SIMD): one call per scored token.
    static func logSumExp(_ x: UnsafeBufferPointer<Float>) -> Double {
        guard let base = x.baseAddress else { return -.infinity }
        return Ops.logSumExp(base, count: x.count)
    }

    static func logSumExp(_ x: [Float]) -> Double { x.withUnsafeBufferPointer { logSumExp($0) } }

    static func softmax(_ x: [Double]) -> [Double] {
        let m = x.max() ?? 0
        let e = x.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
