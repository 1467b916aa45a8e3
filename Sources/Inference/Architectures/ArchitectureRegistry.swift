import GGUF

/// One model architecture, in one file under `Architectures/`: its hyperparameters (read from its `{arch}.*`
/// GGUF keys, with its defaults), its weights (GGUF tensor names beside the fields) and its forward graph,
/// composed from the shared blocks of `ForwardPass+Blocks.swift`. See docs/architecture.md, "Adding an architecture".
protocol Architecture: Sendable {
    /// The `general.architecture` value of its GGUF files.
    static var name: String { get }
    /// The hyperparameters, from `metadata` (throws ``InferenceError/invalidHyperparameter(_:)`` naming a
    /// missing or bad key).
    static func config(metadata: GGUFMetadata, vocabularySize: Int) throws -> ModelConfig
    /// Zero-copy views of the weights (throws ``InferenceError/missingTensor(_:)`` naming a missing tensor).
    init(file: GGUFFile, config: ModelConfig) throws
    /// What the runtime needs of the weights, whatever the graph.
    var shared: SharedWeights { get }
    /// Evaluates the rows of step `g` (each at its position in its own sequence, attention against that
    /// sequence's KV cache), leaving each sequence's logits where its segment asks.
    func forward(_ g: ForwardPass)
}

/// The architectures EdgeLM runs: the one list every other place reads (the loader, error messages, the
/// lifecycle compatibility check).
public enum ArchitectureRegistry {
    static let all: [any Architecture.Type] = [Llama.self, Gemma3.self]

    /// `general.architecture` names, sorted.
    public static var names: [String] { all.map { $0.name }.sorted() }

    static func architecture(named name: String) -> (any Architecture.Type)? { all.first { $0.name == name } }

    /// The architecture of `file` and its hyperparameters (vocabulary: `{arch}.vocab_size`, else the token
    /// list's length). - Throws: ``InferenceError/unsupportedArchitecture(_:)``, ``InferenceError/invalidHyperparameter(_:)``.
    static func resolve(_ file: GGUFFile) throws -> (kind: any Architecture.Type, config: ModelConfig) {
        let arch = try file.metadata.string(GGUFKey.architecture)
        guard let kind = architecture(named: arch) else { throw InferenceError.unsupportedArchitecture(arch) }
        let vocab = (try? file.metadata.int(GGUFKey.vocabSize(arch))) ?? ((try? file.metadata.arrayCount(GGUFKey.tokens)) ?? 0)
        return (kind, try kind.config(metadata: file.metadata, vocabularySize: vocab))
    }
}
