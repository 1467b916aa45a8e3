import Foundation
import Testing
import Inference
@testable import Tasks

/// Labels as users write them: humanised words for scoring, shown back unchanged; label files and few-shot
/// example files; the shared prompt prefix computed once per label set.
@Suite(.serialized) struct LabelSetTests {
    @Test(arguments: [
        (["set_alarm", "weather", "play_music", "book_flight"], ["set alarm", "weather", "play music", "book flight"]),
        (["billing", "technical-issue", "account-access"], ["billing", "technical issue", "account access"]),
        (["cancelSubscription", "upgradePlan", "other"], ["cancel subscription", "upgrade plan", "other"]),
        (["SPAM", "NOT_SPAM"], ["spam", "not spam"]),
        (["URGENT", "NORMAL", "LOW_PRIORITY"], ["urgent", "normal", "low priority"]),
        (["en", "fr", "DE", "es"], ["English", "French", "German", "Spanish"]),
        (["HTTPError", "FAQ", "billing", "NOT_SPAM"], ["HTTP error", "FAQ", "billing", "not spam"]),
        (["5_stars", "1star", "Positive"], ["5 stars", "1 star", "positive"]),
        (["en", "xx"], ["en", "xx"]),                    // not all ISO codes: kept as words
        (["  spaced  label ", "x.y/z"], ["spaced label", "x y z"]),
    ])
    func humanise(labels: [String], words: [String]) {
        #expect(LabelWords.humanise(labels) == words)
    }

    @Test func labelSetValidation() throws {
        try LabelSet(["set_alarm", "weather"]).validate()
        #expect(throws: TasksError.self) { try LabelSet(["only"]).validate() }
        #expect(throws: TasksError.self) { try LabelSet(["a", " "]).validate() }
        #expect(throws: TasksError.self) { try LabelSet(["yes", "YES"]).validate() }
        // Different labels that read the same once humanised are refused, naming both.
        do {
            try LabelSet(["set_alarm", "setAlarm"]).validate()
            Issue.record("accepted")
        } catch let TasksError.invalidLabels(why) {
            #expect(why.contains("set_alarm") && why.contains("setAlarm"), "\(why)")
        }
        // Verbatim scoring keeps them apart.
        var raw = LabelSet(["set_alarm", "setAlarm"])
        raw.humanise = false
        try raw.validate()
        var ex = LabelSet(["a", "b"])
        ex.examples = [LabeledExample(text: "t", label: "c")]
        #expect(throws: TasksError.self) { try ex.validate() }
    }

    @Test func shotsAreKPerLabelInterleaved() {
        var set = LabelSet(["pos", "neg"])
        set.examples = [.init(text: "p1", label: "pos"), .init(text: "p2", label: "pos"), .init(text: "p3", label: "pos"),
                        .init(text: "n1", label: "neg")]
        set.examplesPerLabel = 2
        #expect(set.shots.map(\.text) == ["p1", "n1", "p2"])
        #expect(set.shots.map(\.label) == [0, 1, 0])
        set.examplesPerLabel = 0
        #expect(set.shots.isEmpty)
    }

    @Test func labelsFileParsing() throws {
        let specs = try LabelSet.parseLabelsFile(Data(#"[{"label":"billing","description":"charges, refunds"},"other",{"label":"x_y","words":"ex why"}]"#.utf8))
        #expect(specs == [LabelSpec("billing", description: "charges, refunds"), LabelSpec("other"), LabelSpec("x_y", words: "ex why")])
        #expect(LabelSet(labels: specs).words == ["billing", "other", "ex why"])
        for bad in ["", "{}", "[1]", #"[{"description":"d"}]"#, #"[{"label":"a","colour":"red"}]"#, #"[{"label":"a","description":3}]"#, "[{"] {
            #expect(throws: TasksError.self, "\(bad)") { _ = try LabelSet.parseLabelsFile(Data(bad.utf8)) }
        }
    }

    @Test func examplesFileParsing() throws {
        let ex = try LabelSet.parseExamples(Data("{\"text\":\"a b\",\"label\":\"x\"}\n\n// note\n{\"text\":\"c\",\"label\":\"y\",\"extra\":1}\n".utf8))
        #expect(ex == [LabeledExample(text: "a b", label: "x"), LabeledExample(text: "c", label: "y")])
        do {
            _ = try LabelSet.parseExamples(Data("{\"text\":\"a\",\"label\":\"x\"}\n{\"text\": 1}\n".utf8))
            Issue.record("accepted")
        } catch let TasksError.invalidExamples(why) {
            #expect(why.contains("line 2"), "\(why)")
        }
        #expect(throws: TasksError.self) { _ = try LabelSet.parseExamples(Data("not json".utf8)) }
    }

    /// The prompt: descriptions and examples in the shared prefix, the input after it; the words are scored and
    /// the labels come back as written.
    @Test func promptCarriesDescriptionsAndExamplesInThePrefix() throws {
        let r = try TaskRunnerTests.runner()
        var set = LabelSet(labels: [LabelSpec("technical-issue", description: "errors, crashes"), LabelSpec("NOT_SPAM")])
        set.examples = [.init(text: "it crashed", label: "technical-issue")]
        let p = r.classificationPrompt(set)
        let prefix = r.tokenizer.decode(p.prefix)
        #expect(prefix.contains("Answer with exactly one of: Technical issue, Not spam."))
        #expect(prefix.contains("- Technical issue: errors, crashes"))
        #expect(prefix.contains("- Not spam\n") || prefix.contains("- Not spam<"))
        #expect(prefix.contains("Text: it crashed"))
        #expect(prefix.contains("Label: Technical issue"))
        #expect(p.spelled == [" Technical issue", " Not spam"])
        let full = r.classificationTokens(p, text: "hello there")
        #expect(Array(full.prefix(p.prefix.count)) == p.prefix)
        #expect(r.tokenizer.decode(full).hasSuffix("Label:"))
        let c = try r.classify("hello there", labelSet: set)
        #expect(c.labels == ["technical-issue", "NOT_SPAM"])
        #expect(["technical-issue", "NOT_SPAM"].contains(c.label))
    }

    /// The label set's prefix is evaluated once: the second input evaluates only its own tokens (session
    /// reuse), and a second runner sharing the prefix cache restores it instead of evaluating it — with the
    /// same scores as evaluating everything.
    @Test func prefixIsComputedOncePerLabelSet() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.calibration = .none
        opts.scoring = .direct
        let set = LabelSet(labels: [LabelSpec("red", description: "warm colours"), LabelSpec("blue", description: "cold colours")],
                           examples: [.init(text: "fire", label: "red"), .init(text: "ice", label: "blue")])
        let cache = PrefixCache(capacityBytes: 16 << 20)
        let r1 = try TaskRunnerTests.runner(seed: 3, options: opts)
        let shared = try TaskRunner(model: r1.model, options: opts, prefixCache: cache)
        let p = shared.classificationPrompt(set)
        let a = try shared.classify("apple", labelSet: set)
        #expect(a.timings.promptTokens == shared.classificationTokens(p, text: "apple").count)
        let b = try shared.classify("sky", labelSet: set)
        #expect(b.timings.promptTokens <= shared.classificationTokens(p, text: "sky").count - p.prefix.count)
        // Another label set in between evicts it from the session, not from the cache.
        _ = try shared.classify("sky", labels: ["x", "y"])
        let other = try TaskRunner(model: r1.model, options: opts, prefixCache: cache)
        let c = try other.classify("sky", labelSet: set)
        #expect(c.timings.promptTokens == shared.classificationTokens(p, text: "sky").count - p.prefix.count)
        #expect(cache.hits >= 1)
        func close(_ x: [Double], _ y: [Double]) -> Bool { zip(x, y).allSatisfy { abs($0 - $1) < 1e-4 } }
        #expect(close(c.rawScores, b.rawScores), "\(c.rawScores) vs \(b.rawScores)")
        // And the same as a runner without any cache.
        let plain = try TaskRunner(model: r1.model, options: opts)
        #expect(close(try plain.classify("sky", labelSet: set).rawScores, b.rawScores))
    }

    /// Few-shot examples and descriptions change the scores (they reach the model), and contextual calibration
    /// is cached per label set, not per label names.
    @Test func examplesAndDescriptionsReachTheModel() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.calibration = .none
        let r = try TaskRunnerTests.runner(seed: 5, options: opts)
        let plain = try r.classify("a b a", labels: ["alpha", "beta"])
        let described = try r.classify("a b a", labelSet: LabelSet(labels: [LabelSpec("alpha", description: "first"), LabelSpec("beta")]))
        let shot = try r.classify("a b a", labelSet: LabelSet(labels: [LabelSpec("alpha"), LabelSpec("beta")],
                                                               examples: [.init(text: "b b", label: "beta")]))
        #expect(plain.rawScores != described.rawScores)
        #expect(plain.rawScores != shot.rawScores)
    }

    /// Channel scores are log P(text, end | prefix, label) — checked against scoring each sequence from scratch in
    /// a fresh session — and combined scores are the sum of the direct and channel log-softmaxes.
    @Test func channelAndCombinedScores() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.calibration = .none
        opts.scoring = .channel
        let r = try TaskRunnerTests.runner(seed: 9, options: opts)
        let set = LabelSet(labels: [LabelSpec("tech_issue", description: "broken things"), LabelSpec("billing")],
                           examples: [.init(text: "b a", label: "billing")])
        let c = try r.classify("a b b", labelSet: set)
        let p = r.channelPrompt(set)
        #expect(r.tokenizer.decode(p.prefix).contains("- Tech issue: broken things"))
        #expect(r.tokenizer.decode(p.prefix).contains("Label: Billing"))
        #expect(r.tokenizer.decode(p.prefix).hasSuffix("Label:"))
        let body = r.tokenizer.encode(" a b b", parseSpecial: false) + [r.answerEnd!]
        let fresh = try Session(model: r.model, options: SessionOptions(contextLength: 512, threads: 1))
        for i in 0..<2 {
            fresh.reset()
            let head = p.prefix + p.mids[i]
            let all = head + body
            var sum = 0.0
            try fresh.evaluateAll(all) { pos, logits in
                if pos >= head.count - 1 && pos < all.count - 1 {
                    sum += Double(logits[Int(all[pos + 1])]) - TaskRunner.logSumExp(logits)
                }
            }
            #expect(abs(c.rawScores[i] - sum) < 1e-3, "label \(i): \(c.rawScores[i]) vs \(sum)")
        }
        // Combined = direct (here uncalibrated) + channel, as log-softmaxes.
        var d = opts; d.scoring = .direct
        var m = opts; m.scoring = .combined; m.channelSkip = .never
        let direct = try TaskRunner(model: r.model, options: d).classify("a b b", labelSet: set).rawScores
        let combined = try TaskRunner(model: r.model, options: m).classify("a b b", labelSet: set).rawScores
        let want = zip(TaskRunner.logSoftmax(direct), TaskRunner.logSoftmax(c.rawScores)).map { $0 + $1 }
        #expect(zip(combined, want).allSatisfy { abs($0 - $1) < 1e-6 }, "\(combined) vs \(want)")
    }

    /// Combined scoring keeps both prefixes in the prefix cache: after the first input, an input evaluates only
    /// its own tokens (its text once for the answer, and the label words and text per label).
    @Test func combinedScoringReusesBothPrefixes() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.calibration = .none
        opts.channelSkip = .never   // both halves always run here
        let r = try TaskRunnerTests.runner(seed: 4, options: opts)
        let set = LabelSet(labels: [LabelSpec("red"), LabelSpec("blue")], examples: [.init(text: "fire", label: "red")])
        _ = try r.classify("apple", labelSet: set)
        let b = try r.classify("sky", labelSet: set)
        let direct = r.classificationPrompt(set), channel = r.channelPrompt(set)
        let perInput = r.classificationTokens(direct, text: "sky").count - direct.prefix.count
            + channel.mids.map { $0.count }.reduce(0, +) + 2 * (r.tokenizer.encode(" sky", parseSpecial: false).count + 1 - 1)
        #expect(b.timings.promptTokens <= perInput, "\(b.timings.promptTokens) > \(perInput)")
        #expect(b.timings.promptTokens < direct.prefix.count + channel.prefix.count)
        #expect((r.prefixCache?.count ?? 0) >= 2)
    }

    /// Combined scoring leaves the channel half out when the direct half's own confidence reaches
    /// `channelSkip`: the direct half then stands in for the channel half (twice its log-softmax), it costs fewer evaluated
    /// tokens, and just above that confidence (or with nil) both halves run.
    @Test func channelHalfSkippedWhenDirectIsSure() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.calibration = .none
        let r = try TaskRunnerTests.runner(seed: 4, options: opts)
        let set = LabelSet(labels: [LabelSpec("red"), LabelSpec("blue"), LabelSpec("green")], examples: [.init(text: "fire", label: "red")])
        var d = opts; d.scoring = .direct
        let direct = try TaskRunner(model: r.model, options: d).classify("sky", labelSet: set)
        let ls = TaskRunner.logSoftmax(direct.rawScores)
        let t = r.skipTemperature(fewShot: true)   // the rule's own temperature, not the softmax default
        let sure = TaskRunner.softmax(ls.map { $0 / t }).max()!
        #expect(sure < 0.999, "the test needs a direct half that is not certain: \(sure)")
        var below = opts; below.channelSkip = .atConfidence(sure - 1e-6)
        let skipped = try TaskRunner(model: r.model, options: below).classify("sky", labelSet: set)
        #expect(skipped.channelSkipped && skipped.label == direct.label)
        #expect(zip(skipped.rawScores, ls).allSatisfy { abs($0 - 2 * $1) < 1e-9 }, "\(skipped.rawScores) vs 2 × \(ls)")
        var above = opts; above.channelSkip = .atConfidence(sure + 1e-6)
        let both = try TaskRunner(model: r.model, options: above).classify("sky", labelSet: set)
        #expect(!both.channelSkipped)
        #expect(both.timings.promptTokens + both.timings.generatedTokens > skipped.timings.promptTokens + skipped.timings.generatedTokens)
        var never = opts; never.channelSkip = .never
        let full = try TaskRunner(model: r.model, options: never).classify("sky", labelSet: set)
        #expect(!full.channelSkipped && full.rawScores == both.rawScores)
    }

    /// The channel settings `classify` uses: the model's tuned pair for its kind of label set (the tiny model is a
    /// llama with a ChatML template, so it gets SmolLM2's few-shot pair), the library's 0.6 / 3 elsewhere, and the
    /// options' values whenever they are given.
    @Test func channelSettingResolution() throws {
        let r = try TaskRunnerTests.runner(seed: 4)
        #expect(r.channelSetting(fewShot: true) == (0.4, 2, 0.7))
        #expect(r.channelSetting(fewShot: false) == (0.6, nil, nil))
        var given = TaskOptions(contextLength: 512, threads: 1)
        given.channelSkip = .atConfidence(0.5); given.channelLabels = .top(4); given.channelCoverage = .share(0.9)
        let g = try TaskRunner(model: r.model, options: given)
        #expect(g.channelSetting(fewShot: true) == (0.5, 4, 0.9) && g.channelSetting(fewShot: false) == (0.5, 4, 0.9))
        given.channelSkip = .never; given.channelLabels = .all; given.channelCoverage = .off
        let n = try TaskRunner(model: r.model, options: given).channelSetting(fewShot: true)
        #expect(n.skip == nil && n.topK == nil && n.coverage == nil)
        // Only one given: the other stays the model's.
        var half = TaskOptions(contextLength: 512, threads: 1)
        half.channelLabels = .top(3)
        #expect(try TaskRunner(model: r.model, options: half).channelSetting(fewShot: true) == (0.4, 3, 0.7))
        // Options the pairs were not tuned with (sum of token log-probabilities): the library's pair.
        var sum = TaskOptions(contextLength: 512, threads: 1)
        sum.labelScore = .sum
        #expect(try TaskRunner(model: r.model, options: sum).channelSetting(fewShot: true) == (0.6, 3, 0.7))
        // And the tuned k is what classify does: a 3-label set with examples runs the channel half for 2 labels
        // (coverage off; with it, at least 2).
        var noSkip = TaskOptions(contextLength: 512, threads: 1)
        noSkip.channelSkip = .never
        let covered = noSkip
        noSkip.channelCoverage = .off
        let set = LabelSet(labels: [LabelSpec("red"), LabelSpec("blue"), LabelSpec("green")], examples: [.init(text: "fire", label: "red")])
        #expect(try TaskRunner(model: r.model, options: noSkip).classify("sky", labelSet: set).channelLabels == 2)
        // Without examples every label's channel half.
        #expect(try TaskRunner(model: r.model, options: noSkip).classify("sky", labelSet: LabelSet(["red", "blue", "green", "pink"])).channelLabels == 4)
        #expect(try TaskRunner(model: r.model, options: covered).classify("sky", labelSet: set).channelLabels >= 2)
    }

    /// With `channelLabels` the channel half is evaluated for the direct half's k best labels only: within them it
    /// redistributes the direct half's mass on them, the others keep the direct half as their stand-in; k = every
    /// label is plain combined scoring.
    @Test func channelTopKRestrictsTheChannelHalf() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.calibration = .none
        opts.channelSkip = .never
        opts.channelLabels = .all
        opts.channelCoverage = .off
        let r = try TaskRunnerTests.runner(seed: 4, options: opts)
        let set = LabelSet(labels: [LabelSpec("red"), LabelSpec("blue"), LabelSpec("green")], examples: [.init(text: "fire", label: "red")])
        var d = opts; d.scoring = .direct
        var ch = opts; ch.scoring = .channel
        let direct = TaskRunner.logSoftmax(try TaskRunner(model: r.model, options: d).classify("sky", labelSet: set).rawScores)
        let channel = try TaskRunner(model: r.model, options: ch).classify("sky", labelSet: set).rawScores
        let full = try r.classify("sky", labelSet: set)
        #expect(full.channelLabels == 3)
        var all = opts; all.channelLabels = .top(3)
        let same = try TaskRunner(model: r.model, options: all).classify("sky", labelSet: set)
        #expect(same.rawScores == full.rawScores && same.channelLabels == 3)
        var two = opts; two.channelLabels = .top(2)
        let c = try TaskRunner(model: r.model, options: two).classify("sky", labelSet: set)
        #expect(c.channelLabels == 2 && !c.channelSkipped)
        let order = direct.indices.sorted { direct[$0] > direct[$1] }
        let top = order.prefix(2).sorted(), rest = order[2]
        let mass = log(exp(direct[top[0]]) + exp(direct[top[1]]))
        let within = TaskRunner.logSoftmax(top.map { channel[$0] })
        #expect(abs(c.rawScores[rest] - 2 * direct[rest]) < 1e-9, "\(c.rawScores) vs direct \(direct)")
        for (j, i) in top.enumerated() {
            #expect(abs(c.rawScores[i] - (direct[i] + mass + within[j])) < 1e-9, "label \(i): \(c.rawScores[i])")
        }
        #expect(abs(c.probabilities.reduce(0, +) - 1) < 1e-9)
        #expect(c.timings.promptTokens < full.timings.promptTokens)
    }

    /// The channel half's labels: the direct half's k best, widened while they hold less than the coverage of its
    /// probability (at the given temperature), in label order.
    @Test func channelCoverageWidensAFlatDirectHalf() throws {
        let flat = [0.238, 0.226, 0.277, 0.259].map { log($0) }
        #expect(TaskRunner.channelLabelIndices(direct: flat, k: 2, coverage: nil, temperature: 1) == [2, 3])
        #expect(TaskRunner.channelLabelIndices(direct: flat, k: 2, coverage: 0.5, temperature: 1) == [2, 3])
        #expect(TaskRunner.channelLabelIndices(direct: flat, k: 2, coverage: 0.7, temperature: 1) == [0, 2, 3])
        #expect(TaskRunner.channelLabelIndices(direct: flat, k: 2, coverage: 0.8, temperature: 1) == [0, 1, 2, 3])
        #expect(TaskRunner.channelLabelIndices(direct: flat, k: 2, coverage: 1, temperature: 1) == [0, 1, 2, 3])
        // A sharper temperature concentrates the mass: three labels hold 0.774 at T = 1, 0.797 at T = 0.5.
        #expect(TaskRunner.channelLabelIndices(direct: flat, k: 2, coverage: 0.79, temperature: 1) == [0, 1, 2, 3])
        #expect(TaskRunner.channelLabelIndices(direct: flat, k: 2, coverage: 0.79, temperature: 0.5) == [0, 2, 3])
        // A peaked direct half keeps exactly k.
        let peaked = [0.05, 0.9, 0.03, 0.02].map { log($0) }
        #expect(TaskRunner.channelLabelIndices(direct: peaked, k: 2, coverage: 0.9, temperature: 1) == [0, 1])
        #expect(TaskRunner.channelLabelIndices(direct: peaked, k: 1, coverage: 0.85, temperature: 1) == [1])
        // Ties go to the earlier label; k past the count is every label.
        let even = [Double](repeating: log(0.25), count: 4)
        #expect(TaskRunner.channelLabelIndices(direct: even, k: 1, coverage: nil, temperature: 1) == [0])
        #expect(TaskRunner.channelLabelIndices(direct: even, k: 9, coverage: nil, temperature: 1) == [0, 1, 2, 3])

        // In classify: coverage 1 scores every label's channel half, and gives plain combined scoring's scores.
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.channelSkip = .never
        opts.channelLabels = .top(1)
        opts.channelCoverage = .share(1)
        let r = try TaskRunnerTests.runner(seed: 4, options: opts)
        let set = LabelSet(labels: [LabelSpec("red"), LabelSpec("blue"), LabelSpec("green")], examples: [.init(text: "fire", label: "red")])
        let wide = try r.classify("sky", labelSet: set)
        var all = opts; all.channelLabels = .all
        let full = try TaskRunner(model: r.model, options: all).classify("sky", labelSet: set)
        #expect(wide.channelLabels == 3 && full.channelLabels == 3)
        for i in 0..<3 { #expect(abs(wide.rawScores[i] - full.rawScores[i]) < 1e-9, "label \(i)") }
        var one = opts; one.channelCoverage = .off
        #expect(try TaskRunner(model: r.model, options: one).classify("sky", labelSet: set).channelLabels == 1)
    }

    @Test func temperatureSources() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.temperature = 2
        let r = try TaskRunnerTests.runner(options: opts)
        let set = LabelSet(["a", "b"])
        #expect(r.temperature(for: set) == 2)
        r.setTemperature(0.5, labelSet: set)
        #expect(r.temperature(for: set) == 0.5)
        r.setTemperature(nil, labelSet: set)
        let r1 = try TaskRunnerTests.runner()
        #expect(r1.temperature(for: set) == r1.defaultTemperature(fewShot: false))
        let shot = LabelSet(labels: [LabelSpec("a"), LabelSpec("b")], examples: [.init(text: "x", label: "a")])
        #expect(r1.temperature(for: shot) == r1.defaultTemperature(fewShot: true))
        // The fitted defaults apply to the default scoring only.
        var direct = TaskOptions(contextLength: 512, threads: 1)
        direct.scoring = .direct
        #expect(try TaskRunnerTests.runner(options: direct).defaultTemperature(fewShot: true) == 1)
    }
}
