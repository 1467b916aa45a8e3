import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `--no-telemetry`, shared by the commands that record telemetry (classify, extract, rewrite, generate, eval).
struct TelemetryOptions: ParsableArguments {
    @Flag(name: .long, help: ArgumentHelp(
        "Do not record aggregate telemetry for this run.",
        discussion: "Telemetry is counters only (never text); $EDGELM_TELEMETRY=off turns it off everywhere, any other value is the counters file (default: <store>/telemetry.json)."))
    var noTelemetry = false
}

/// Records the CLI's task requests into the device's ``TelemetryStore``: counters and histograms of enums and
/// numbers only (``TelemetryEvent`` has no `String` field). Writing telemetry never fails a command: a write
/// error is reported once on stderr.
final class TelemetryRecorder {
    let store: TelemetryStore?
    /// The model's store key (`id@version`) once loaded from a store; nil for a model loaded by path.
    var modelKey: String?
    private var warned = false

    init(_ options: TelemetryOptions, storeDirectory: String?) {
        store = TelemetryStore.resolve(storeDirectory: storeDirectory, disabled: options.noTelemetry)
    }

    init(store: TelemetryStore?) { self.store = store }

    /// Records one event (and the model label).
    func record(_ event: TelemetryEvent) {
        guard let store else { return }
        let key = modelKey
        do {
            try store.update { t in
                if let key { t.setModel(key: key) } else { t.setUnmanagedModel() }
                t.record(event)
            }
        } catch {
            guard !warned else { return }
            warned = true
            StandardStream.error.write("edgelm: telemetry not recorded: \(error)\n")
        }
    }

    /// Records local eval results of one task (aggregated per task in telemetry).
    func recordEvals(_ task: TaskKind, _ results: [(correct: Bool, score: Double)]) {
        guard let store, !results.isEmpty else { return }
        let key = modelKey
        do {
            try store.update { t in
                if let key { t.setModel(key: key) } else { t.setUnmanagedModel() }
                for r in results { t.recordEval(task: task, correct: r.correct, score: r.score) }
            }
        } catch {
            StandardStream.error.write("edgelm: telemetry not recorded: \(error)\n")
        }
    }

    /// Runs `body`; when it throws, records the error's type (a memory-budget refusal also counts as one)
    /// under `task`, then rethrows.
    func guarded<T>(_ task: TaskKind, _ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            record(TelemetryEvent(task: task, error: error, memoryBudgetRefusal: error is MemoryBudgetError))
            throw error
        }
    }

    /// The escalation reason telemetry records for a routed result: every reason except `local_confident`
    /// (the router wanted the remote model, whether or not it answered).
    static func escalation(_ r: RoutedResult) -> EscalationReason? {
        switch r.reason {
        case .localConfident: nil
        case .lowConfidence: .lowConfidence
        case .inputTooLong: .inputTooLong
        case .highRiskDecision: .highRiskDecision
        case .noLocalModel: .noLocalModel
        }
    }

    /// Milliseconds since `start` (`DispatchTime` nanoseconds).
    static func elapsedMs(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }
}

/// A ``LocalTaskHandler`` over a ``TaskRunner`` that keeps the timings of the last task it ran (the router's
/// result carries the output only), so telemetry can count prompt and generated tokens.
final class TimedLocalHandler: LocalTaskHandler {
    let runner: TaskRunner
    private(set) var lastTimings: TaskTimings?

    init(_ runner: TaskRunner) { self.runner = runner }

    func run(_ task: TaskInput) throws -> (output: TaskOutput, confidence: Double?) {
        switch task {
        case .classify(let text, let labels, let instruction):
            let c = try runner.classify(text, labels: labels, instruction: instruction)
            lastTimings = c.timings
            return (.classification(c), c.confidence)
        case .classifyWith(let text, let set):
            let c = try runner.classify(text, labelSet: set)
            lastTimings = c.timings
            return (.classification(c), c.confidence)
        case .extract(let text, let schema):
            let e = try runner.extract(text, schema: schema)
            lastTimings = e.timings
            return (.extraction(e.value), nil)
        case .rewrite(let text, let instruction, let maxTokens):
            let r = try runner.rewrite(text, instruction: instruction, maxTokens: maxTokens)
            lastTimings = r.timings
            return (.rewrite(r.text), nil)
        }
    }

    func fits(_ task: TaskInput) -> Bool { runner.fits(task) }
    func contextNeed(_ task: TaskInput) -> (tokens: Int, contextLength: Int)? { runner.contextNeed(task) }

    /// Prompt plus generated tokens of the last local task (0 when it did not run locally).
    var lastTokens: Int { lastTimings.map { $0.promptTokens + $0.generatedTokens } ?? 0 }
}

extension MemoryOptions {
    /// Task-runner options under `--profile` / `--memory-cap` / `--residency`: context, batch and threads from
    /// the profile (explicit `--ctx` / `--threads` win; without a profile the context defaults to
    /// `defaultContext`), and the memory budget checked up front.
    ///
    /// `TaskRunner` allocates its session with `SessionOptions(contextLength:batchSize:threads:)`: resident
    /// weights and the default KV cache, whatever the profile says (Tasks has no such options). The budget is
    /// checked for exactly that session, and a note goes to stderr when streamed weights were asked for.
    /// - Throws: `MemoryBudgetError` when the task session would not fit the cap.
    func taskOptions(model: Model, ctx: Int?, threads: Int?, defaultContext: Int) throws -> TaskOptions {
        let requested = try sessionOptions(model: model, ctx: ctx ?? (profile == nil ? defaultContext : nil), threads: threads)
        let ctxTokens = min(requested.contextLength ?? defaultContext, model.config.contextLength)
        let batch = profile == nil ? TaskOptions().batchSize : requested.batchSize
        var options = TaskOptions(contextLength: ctxTokens, batchSize: batch, threads: requested.threads)
        options.residency = requested.residency
        options.kvType = requested.kvType
        options.kvPolicy = requested.kvPolicy
        // Checked here (not only in Session.init) so the refusal is reported before any task work starts. The
        // prefix cache is a speed-up: under a cap it does not fit, the runner goes without it.
        if let budget = requested.memoryBudget {
            if (try? budget.check(model: model, options: options.sessionOptions(for: model))) == nil { options.prefixCacheBytes = 0 }
            try budget.check(model: model, options: options.sessionOptions(for: model))
        }
        options.memoryBudget = requested.memoryBudget
        return options
    }
}
