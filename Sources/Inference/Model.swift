import EdgeLMEssentials
import GGUF
import Kernels
import Tokenizers

/// An immutable, loaded model: the memory-mapped file, its configuration, zero-copy weight views and the
/// tokenizer. Share one `Model` between any number of ``Session``s (it is `Sendable`).
///
/// - Memory: the weights stay in the file mapping (pages are read on first use); the tokenizer tables are
///   the only heap allocation proportional to the model (a few MB for a 50k vocabulary).
public final class Model: @unchecked Sendable {
    public let file: GGUFFile
    public let config: ModelConfig
    public let tokenizer: any Tokenizer
    /// Seconds spent in ``init(path:)``.
    public let loadSeconds: Double
    /// The architecture's weights and forward graph (`Architectures/<Arch>.swift`).
    let architecture: any Architecture
    /// What the runtime needs of the weights, whatever the architecture.
    var weights: SharedWeights { architecture.shared }

    /// Opens and validates a GGUF model.
    /// - Throws: ``InferenceError``, `GGUFError`, `TokenizerError` with a message saying what is wrong.
    /// - Complexity: O(tensors + vocabulary); does not read the weight pages.
    public init(path: String) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        guard FileManager.default.fileExists(atPath: path) else { throw InferenceError.modelNotFound(path: path) }
        let file = try GGUFFile(path: path)
        let (kind, config) = try ArchitectureRegistry.resolve(file)
        try config.validate(file: file)
        let tokenizer = try TokenizerLoader.load(from: file.metadata)
        self.file = file
        self.config = config
        self.tokenizer = tokenizer
        self.architecture = try kind.init(file: file, config: config)
        // The tokenizer and the configuration hold what they need of the metadata: its pages leave RSS.
        file.releaseMetadataPages()
        self.loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Bytes of all tensor data (what stays resident once every page was touched).
    public var weightBytes: Int { file.tensors.reduce(0) { $0 + $1.byteCount } }
}
