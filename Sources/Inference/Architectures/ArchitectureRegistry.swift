import GGUF

/// The architectures EdgeLM can run, by their `general.architecture` name.
enum ArchitectureRegistry {
    typealias Loader = @Sendable (GGUFFile, ModelConfig) throws -> TransformerWeights
    static let loaders: [String: Loader] = [
        LlamaArchitecture.name: LlamaArchitecture.loadWeights,
    ]
    static var names: [String] { loaders.keys.sorted() }
}
