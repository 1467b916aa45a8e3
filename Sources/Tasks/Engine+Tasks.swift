// The task API on an Engine: classify / extract / rewrite from any number of concurrent callers, each call on
// one of the engine's lanes (concurrent calls are evaluated in the same steps), single or batch.

import Inference

extension LaneContext {
    /// The lane's task runner for `options` (built on the lane's session on first use, then kept with its
    /// caches: contextual calibration, temperatures, token trie, and the last prompt prefix in the session).
    public func taskRunner(_ options: TaskOptions) throws -> TaskRunner {
        let key = "tasks.runner.\(options.calibration.rawValue).\(options.scoreEndOfTurn).\(options.maxExtractTokens).\(options.contentFreeInputs)"
            + ".\(options.scoring.rawValue).\(options.channelSkip).\(options.labelScore.rawValue).\(options.temperature.map { "\($0)" } ?? "-")"
            + ".\(options.spans.rawValue).\(options.spanTypes.rawValue).\(options.distinctValues).\(options.extractDemonstrations).\(options.prefixCacheBytes).\(options.jsonLimits)"
            + ".\(options.batchedLabels).\(options.channelLabels).\(options.channelCoverage)"
        return try storage.value(key) { try TaskRunner(session: session, options: options) }
    }
}

extension Engine {
    /// Classifies `text` into one of `labels` (``TaskRunner/classify(_:labels:instruction:)``) on a free lane.
    /// - Throws: ``EngineError/queueFull(limit:)``, `CancellationError`, ``TasksError``, `InferenceError`.
    public func classify(_ text: String, labels: [String], instruction: String? = nil,
                         options: TaskOptions = TaskOptions()) async throws -> Classification {
        try await run { lane in try lane.taskRunner(options).classify(text, labels: labels, instruction: instruction) }
    }

    /// Classifies `text` with a full ``LabelSet`` (descriptions, few-shot examples; its prompt prefix is cached
    /// per lane) on a free lane.
    public func classify(_ text: String, labelSet: LabelSet, options: TaskOptions = TaskOptions()) async throws -> Classification {
        try await run { lane in try lane.taskRunner(options).classify(text, labelSet: labelSet) }
    }

    /// Extracts `schema`-shaped JSON from `text` (``TaskRunner/extract(_:schema:onPartial:)``) on a free lane.
    public func extract(_ text: String, schema: JSONSchema, options: TaskOptions = TaskOptions()) async throws -> Extraction {
        try await run { lane in
            try lane.taskRunner(options).extract(text, schema: schema) { _ in !lane.isCancelled }
        }
    }

    /// Rewrites `text` per `instruction` (``TaskRunner/rewrite(_:instruction:maxTokens:onText:)``) on a free lane.
    public func rewrite(_ text: String, instruction: String, maxTokens: Int = 128,
                        options: TaskOptions = TaskOptions()) async throws -> Rewrite {
        try await run { lane in
            try lane.taskRunner(options).rewrite(text, instruction: instruction, maxTokens: maxTokens) { _ in !lane.isCancelled }
        }
    }

    /// Classifies every text (in parallel on the engine's lanes); results in input order, each a success or
    /// that input's error (one bad input does not fail the others).
    public func classify(_ texts: [String], labels: [String], instruction: String? = nil,
                         options: TaskOptions = TaskOptions()) async -> [Result<Classification, any Error>] {
        await batch(texts) { try await self.classify($0, labels: labels, instruction: instruction, options: options) }
    }

    /// Extracts from every text (in parallel on the engine's lanes); results in input order.
    public func extract(_ texts: [String], schema: JSONSchema, options: TaskOptions = TaskOptions()) async -> [Result<Extraction, any Error>] {
        await batch(texts) { try await self.extract($0, schema: schema, options: options) }
    }

    /// Rewrites every text (in parallel on the engine's lanes); results in input order.
    public func rewrite(_ texts: [String], instruction: String, maxTokens: Int = 128,
                        options: TaskOptions = TaskOptions()) async -> [Result<Rewrite, any Error>] {
        await batch(texts) { try await self.rewrite($0, instruction: instruction, maxTokens: maxTokens, options: options) }
    }

    /// Runs `body` for every input with at most ``maxSequences`` in flight (the rest would only queue).
    func batch<T: Sendable>(_ inputs: [String], _ body: @escaping @Sendable (String) async throws -> T) async -> [Result<T, any Error>] {
        var results = [Result<T, any Error>?](repeating: nil, count: inputs.count)
        await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
            var next = 0
            func add() {
                let i = next, text = inputs[i]
                group.addTask { do { return (i, .success(try await body(text))) } catch { return (i, .failure(error)) } }
                next += 1
            }
            while next < min(inputs.count, maxSequences) { add() }
            for await (i, r) in group {
                results[i] = r
                if next < inputs.count { add() }
            }
        }
        return results.map { $0! }
    }
}
