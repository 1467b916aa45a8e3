// EdgeLMServer: the model behind the server — loading state, the Engine that batches every request's
// sequence into shared steps, and what requests need from the model (token trie for JSON modes).

import Inference
import Synchronization
import Tasks

/// The served model and its engine, with the server's lifecycle phase.
///
/// The HTTP listener starts before the model is loaded: until ``load(_:)`` finishes, `/health` answers 503 and
/// every model endpoint 503 with `Retry-After`; once draining (SIGTERM), the same.
public final class InferenceService: Sendable {
    /// Where the server is in its life.
    public enum Phase: Sendable, Equatable {
        case loading
        case ready
        case draining
        case failed(String)
    }

    /// What is loaded.
    struct Loaded: Sendable {
        let engine: Engine
        let model: Model
        /// Tokens per sequence (prompt + output).
        let contextLength: Int
        /// Defaults of the task endpoints (calibration, scoring, limits).
        let taskOptions: TaskOptions
    }

    private let state = Mutex<(phase: Phase, loaded: Loaded?)>((.loading, nil))
    private let trieBox = Mutex<TokenTrie?>(nil)
    let metrics = ServerMetrics()
    /// The id clients name the model by.
    public let modelID: String
    /// Task requests' escalation endpoint (nil: local only); the CLI's `$EDGELM_REMOTE_URL` rule.
    let remote: (any RemoteTaskHandler)?

    public init(modelID: String, remote: (any RemoteTaskHandler)? = nil) {
        self.modelID = modelID
        self.remote = remote
    }

    /// Starts serving `engine` (its model and options): the phase becomes ``Phase/ready`` unless the server
    /// is already draining.
    public func ready(engine: Engine, taskOptions: TaskOptions = TaskOptions()) {
        let loaded = Loaded(engine: engine, model: engine.model,
                            contextLength: engine.options.session.contextLength ?? engine.model.config.contextLength,
                            taskOptions: taskOptions)
        state.withLock { s in
            s.loaded = loaded
            if s.phase == .loading { s.phase = .ready }
        }
    }

    /// Loading failed: `/health` reports it (503) and model endpoints answer 503.
    public func failed(_ message: String) { state.withLock { $0.phase = .failed(message) } }

    /// Stops taking new model requests (in-flight ones run on).
    public func drain() { state.withLock { $0.phase = .draining } }

    public var phase: Phase { state.withLock { $0.phase } }

    /// The engine, when serving. - Throws: ``APIError`` 503 while loading, draining or failed.
    func serving() throws -> Loaded {
        let (phase, loaded) = state.withLock { ($0.phase, $0.loaded) }
        switch phase {
        case .ready: return loaded!
        case .loading: throw APIError.unavailable("the model is still loading", reason: "loading", retryAfter: 2)
        case .draining: throw APIError.unavailable("the server is shutting down", reason: "draining", retryAfter: nil)
        case .failed(let m): throw APIError.unavailable("the model failed to load: \(m)", reason: "load_failed", retryAfter: nil)
        }
    }

    /// Engine counters now (nil before the model is loaded).
    var statistics: Engine.Statistics? { state.withLock { $0.loaded }?.engine.statistics }
    var maxSequences: Int { state.withLock { $0.loaded }?.engine.maxSequences ?? 0 }

    /// The model's token trie for constrained JSON (``TokenTrie/shared(for:)``: one with the lanes' task runners;
    /// built on first use, then held here).
    func tokenTrie(_ model: Model) -> TokenTrie {
        trieBox.withLock { t in
            if let t { return t }
            let shared = TokenTrie.shared(for: model)
            t = shared
            return shared
        }
    }
}
