import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `--input FILE.jsonl [--parallel N]` of the task commands: one input per line, one result line per input in
/// input order, N inputs at a time on N sessions that share one execution context (their steps batched).
struct BatchOptions: ParsableArguments {
    @Option(name: .long, help: "JSONL file of inputs, one {\"text\": …} object per line (instead of --text); prints one JSON line per input, in order.")
    var input: String?
    @Option(name: .long, help: "Inputs processed at once with --input (their evaluation is batched; each needs its own KV cache).")
    var parallel = 1

    func validate() throws {
        try checkRange("--parallel", parallel, 1...64)
        if input == nil, parallel != 1 { throw ValidationError("--parallel needs --input FILE.jsonl") }
    }
}

/// One parsed input line.
struct BatchItem {
    /// 1-based line number in the file.
    let line: Int
    let text: String
    /// The line's object.
    let fields: JSONValue

    /// An optional string field.
    func string(_ key: String) throws -> String? {
        guard let v = fields[key], v != .null else { return nil }
        guard case .string(let s) = v else { throw CLIError("line \(line): \"\(key)\" must be a string") }
        return s
    }

    /// Labels given as a JSON array of strings or a comma-separated string.
    func labels() throws -> [String]? {
        guard let v = fields["labels"], v != .null else { return nil }
        if case .string(let s) = v { return try parseLabels(s) }
        if case .array(let a) = v {
            let names = a.compactMap { if case .string(let s) = $0 { s } else { nil } }
            if names.count == a.count { return try parseLabels(names.joined(separator: ",")) }
        }
        throw CLIError("line \(line): \"labels\" must be an array of strings or a comma-separated string")
    }
}

enum BatchRunner {
    /// Reads the JSONL file: every non-empty line is an input or that line's parse error.
    static func read(_ path: String) throws -> [(line: Int, item: Result<BatchItem, any Error>)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read input file \(path)", hint: "pass a JSONL file with one {\"text\": …} object per line")
        }
        var out: [(Int, Result<BatchItem, any Error>)] = []
        for (i, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineText = raw.trimmingWhitespace()
            if lineText.isEmpty { continue }
            let n = i + 1
            do {
                let obj = try JSONValue.parse(lineText)
                guard case .object = obj else {
                    throw CLIError("line \(n) is not a JSON object", hint: "write one {\"text\": …} object per line")
                }
                guard case .string(let text)? = obj["text"], !text.isEmpty else {
                    throw CLIError("line \(n) has no non-empty \"text\" string", hint: "write one {\"text\": …} object per line")
                }
                out.append((n, .success(BatchItem(line: n, text: text, fields: obj))))
            } catch let e as CLIError {
                out.append((n, .failure(e)))
            } catch {
                out.append((n, .failure(CLIError("line \(n) is not valid JSON", hint: "write one {\"text\": …} object per line"))))
            }
        }
        return out
    }

    /// The error object printed on a failed input's line.
    static func errorDocument(_ error: any Error, line: Int, command: String) -> String {
        let text = CLIMain.errorLine(error, message: "\(error)", commandPath: [command])
        var what = String(text.dropFirst("Error: ".count)), hint = ""
        if let r = what.firstRange(of: "; hint: ") { hint = String(what[r.upperBound...]); what = String(what[..<r.lowerBound]) }
        return jsonLine(["line": line, "error": what, "hint": hint])
    }

    /// Runs `process` for every input on `parallel` task runners sharing one execution context, and prints one
    /// line per input in input order as soon as it and all before it are done. A progress line goes to stderr
    /// when stderr is a terminal.
    /// - Throws: `MemoryBudgetError` when `parallel` sessions do not fit the cap (suggesting how many do).
    static func run(path: String, parallel: Int, command: String, model: Model, options: TaskOptions,
                    process: @escaping @Sendable (TaskRunner, BatchItem) throws -> String) throws {
        let items = UncheckedBox(try read(path))
        let workers = max(1, min(parallel, items.value.count))
        var sessionOptions = options.sessionOptions(for: model)
        if let budget = sessionOptions.memoryBudget {
            // The cap holds the weights once and a KV cache per parallel input.
            let engine = EngineOptions(session: sessionOptions, maxSequences: workers)
            let need = try Engine.memoryRequirement(model: model, options: engine).total
            if need > budget.cap {
                let fit = Engine.maxSequencesFitting(model: model, options: engine, budget: budget)
                throw MemoryBudgetError.exceeds(needed: need, cap: budget.cap,
                                                suggestion: fit >= 1 ? .fewerSequences(maxSequences: fit) : budget.suggestion(model: model, options: sessionOptions))
            }
            sessionOptions.memoryBudget = nil
        }
        let context = ExecutionContext(threads: sessionOptions.threads)
        try context.reserve(model: model, options: sessionOptions, rows: sessionOptions.batchSize + workers, sequences: workers)
        sessionOptions.context = context
        // One prefix cache for all workers: a label set's prompt prefix is evaluated once, whichever worker
        // meets it first, and restored (the same KV bytes) by the others.
        let prefixCache = options.prefixCacheBytes > 0 ? PrefixCache(capacityBytes: options.prefixCacheBytes) : nil
        let runners = UncheckedBox(try (0..<workers).map { _ in
            try TaskRunner(session: try Session(model: model, options: sessionOptions), options: options, prefixCache: prefixCache)
        })
        let board = OutputBoard(count: items.value.count, progress: isatty(2) == 1)
        let handle: @Sendable (TaskRunner, Int) -> Void = { runner, i in
            let (line, item) = items.value[i]
            let out: String
            switch item {
            case .failure(let e): out = errorDocument(e, line: line, command: command)
            case .success(let it):
                // Each input starts from an empty session, as the single-input command does, so its
                // document is the same whichever worker runs it (a reused prefix would be chunked
                // differently and round differently).
                runner.session.reset()
                do { out = try process(runner, it) } catch { out = errorDocument(error, line: line, command: command) }
            }
            board.finish(i, out)
            runner.session.pause()
        }
        // The first input alone: it evaluates the task's shared prompt prefix (instruction, worked examples,
        // label set) into the prefix cache once, instead of every worker computing it at the same time.
        if workers > 1, let first = board.claim() { handle(runners.value[0], first) }
        let threads = (0..<workers).map { w in
            JoinableThread(stackSize: 4 << 20) {
                let runner = runners.value[w]
                while let i = board.claim() { handle(runner, i) }
            }
        }
        for t in threads { t.join() }
        board.flush()
    }
}

/// A JSON object as one line (sorted keys, as `printJSON`).
func jsonLine(_ object: Any) -> String { TaskDocument.text(object) }

/// Hands out input indices and prints finished lines in input order.
final class OutputBoard: @unchecked Sendable {
    private let lock = Lock()
    private var next = 0, printed = 0, done = 0
    private var lines: [String?]
    private let progress: Bool

    init(count: Int, progress: Bool) { lines = Array(repeating: nil, count: count); self.progress = progress }

    func claim() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < lines.count else { return nil }
        next += 1
        return next - 1
    }

    func finish(_ i: Int, _ line: String) {
        lock.lock(); defer { lock.unlock() }
        lines[i] = line
        done += 1
        var out = ""
        while printed < lines.count, let l = lines[printed] { out += l + "\n"; lines[printed] = ""; printed += 1 }
        if !out.isEmpty { StandardStream.output.write(out) }
        if progress { StandardStream.error.write("\r\(done)/\(lines.count) inputs") }
    }

    func flush() {
        if progress { StandardStream.error.write("\n") }
    }
}

/// Exactly one of `--text` and `--input`.
func checkTextOrInput(_ text: String?, _ batch: BatchOptions) throws {
    switch (text, batch.input) {
    case (nil, nil): throw ValidationError("give --text TEXT or --input FILE.jsonl")
    case (.some, .some): throw ValidationError("give either --text or --input, not both")
    case (.some(let t), nil) where t.isEmpty: throw ValidationError("--text must not be empty")
    default: break
    }
}

private let telemetryLock = Lock()

extension TelemetryRecorder {
    /// ``record(_:)`` from any thread (the batch workers).
    func recordLocked(_ event: TelemetryEvent) {
        telemetryLock.lock(); defer { telemetryLock.unlock() }
        record(event)
    }
}
