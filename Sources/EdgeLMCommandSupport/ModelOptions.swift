import ArgumentParser
import EdgeLM
import EdgeLMEssentials

/// `--model`, `--store` and `--threads`, shared by every command that runs a model.
///
/// Which model: `--model PATH`; else the active version of `--store DIR`; else `$EDGELM_MODEL`; else the
/// active version of `$EDGELM_STORE` (or `~/.edgelm/models`) when that store has one; else
/// `weights/smollm2-135m-instruct-q4_1.gguf`. A model from a store is loaded with health accounting
/// (`ModelStore.loadActive`): load failures and crashes on load are counted per version, and crossing a
/// threshold rolls the store back to its last-known-good version (said on stderr).
package struct ModelOptions: ParsableArguments {
    package init() {}
    package static let defaultModelPath = "weights/smollm2-135m-instruct-q4_1.gguf"

    @Option(name: .long, help: ArgumentHelp(
        "Path of a GGUF model.",
        discussion: "Default: the active model of --store, else $EDGELM_MODEL, else the active model of $EDGELM_STORE (or ~/.edgelm/models), else \(defaultModelPath) (fetch it with weights/fetch.sh).",
        valueName: "path"))
    package var model: String?

    @Option(name: .long, help: ArgumentHelp(
        "Model store whose active version to load when --model is not given (default: $EDGELM_STORE, else ~/.edgelm/models, if it has an active version).",
        valueName: "DIR"))
    package var store: String?

    @Option(name: .long, help: "Compute threads (default: all cores).")
    package var threads: Int?

    /// Where the model comes from.
    package enum Location {
        /// A file given by path (`explicit`: by --model or $EDGELM_MODEL, not the built-in default).
        case file(String, explicit: Bool)
        /// The active version of a store.
        case store(ModelStore)
    }

    /// Resolves the model's location (see the type's documentation). Opens a store only when it has an
    /// active version, so no directory is created as a side effect.
    package func location() throws -> Location {
        if let model { return .file(model, explicit: true) }
        if let store {
            guard let s = try ModelStore.existing(at: store) else {
                throw CLIError("the model store \(store) has no active model",
                               hint: "install one with `edgelm models install MANIFEST.json --store \(store) …`, or pass --model PATH")
            }
            return .store(s)
        }
        if let env = ProcessInfo.processInfo.environment["EDGELM_MODEL"], !env.isEmpty { return .file(env, explicit: true) }
        if let s = try ModelStore.existing(at: ModelStore.defaultPath) { return .store(s) }
        return .file(Self.defaultModelPath, explicit: false)
    }

    /// The GGUF path the model is loaded from (a store's active version as it is now, before any rollback).
    package var modelPath: String {
        switch try? location() {
        case .file(let path, _)?: return path
        case .store(let s)?: return s.activeModelPath ?? Self.defaultModelPath
        case nil: return model ?? Self.defaultModelPath
        }
    }

    package var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    package func validate() throws {
        if let threads { try checkRange("--threads", threads, 1...256) }
    }

    /// Throws the one-line "model file not found" error (with how to fix it) when `path` does not exist.
    package static func requireFile(_ path: String, explicit: Bool) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("model file not found: \(path)",
                           hint: explicit ? "check the path given to --model (or $EDGELM_MODEL)"
                                          : "run weights/fetch.sh to download the default model, or pass --model PATH")
        }
    }

    /// Loads the model, turning a missing default file into a hint on how to fetch it.
    package func loadModel() throws -> Model { try load().model }

    /// Loads the model and says where it came from: the store and version key for a store model (loaded with
    /// health accounting and automatic rollback), nil for a file.
    package func load() throws -> LoadedModel {
        switch try location() {
        case let .file(path, explicit):
            try Self.requireFile(path, explicit: explicit)
            return LoadedModel(model: try Model(path: path), store: nil, key: nil)
        case let .store(store):
            store.trustedKeys = try TrustedKeys.load()
            let env = ProcessInfo.processInfo.environment
            // Tests: EDGELM_TEST_CRASH_ON_LOAD=1 ends the process abruptly after the load marker is written.
            let crash: (() -> Void)? = env["EDGELM_TEST_CRASH_ON_LOAD"] == "1" ? { _exit(137) } : nil
            let (model, key) = try store.loadActive(thresholds: LifecycleHealth.thresholds(env), report: LifecycleHealth.report,
                                                    afterMarker: crash) { path, _ in try Model(path: path) }
            return LoadedModel(model: model, store: store, key: key)
        }
    }
}

/// A loaded model and, when it came from a model store, the store and its version key (`id@version`).
package struct LoadedModel {
    package let model: Model
    package let store: ModelStore?
    package let key: String?
}

/// Health thresholds and reporting of the CLI's store loads.
package enum LifecycleHealth {
    /// Defaults of ``HealthThresholds``, overridable for tests and operators with
    /// `EDGELM_HEALTH_MAX_LOAD_FAILURES`, `EDGELM_HEALTH_MAX_CRASHES`, `EDGELM_HEALTH_MIN_EVAL_EVENTS`,
    /// `EDGELM_HEALTH_EVAL_TOLERANCE`.
    package static func thresholds(_ env: [String: String]) -> HealthThresholds {
        var t = HealthThresholds()
        if let v = env["EDGELM_HEALTH_MAX_LOAD_FAILURES"].flatMap(Int.init), v >= 1 { t.maxLoadFailures = v }
        if let v = env["EDGELM_HEALTH_MAX_CRASHES"].flatMap(Int.init), v >= 1 { t.maxCrashesOnLoad = v }
        if let v = env["EDGELM_HEALTH_MIN_EVAL_EVENTS"].flatMap(Int.init), v >= 1 { t.minEvalEvents = v }
        if let v = env["EDGELM_HEALTH_EVAL_TOLERANCE"].flatMap(Double.init), v >= 0 { t.evalTolerance = v }
        return t
    }

    /// Prints a health decision on stderr.
    package static func report(_ d: HealthDecision) {
        StandardStream.error.write("edgelm: model store: \(d)\n")
    }
}

/// An error the CLI reports as one line on stderr (with a hint) and a non-zero exit code.
package struct CLIError: Error, CustomStringConvertible {
    package let message: String
    package let hint: String?
    package init(_ message: String, hint: String? = nil) { self.message = message; self.hint = hint }
    package var description: String { hint.map { "\(message); hint: \($0)" } ?? message }
}

/// Writes exactly one JSON document to stdout.
package func printJSON(_ object: Any) throws {
    StandardStream.output.write(JSONValue(document: object).description + "\n")
}

/// Unbuffered text output for streaming.
package func writeStdout(_ s: String) {
    StandardStream.output.write(s)
}
