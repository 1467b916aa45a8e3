import GGUF

/// Errors of the inference runtime: model loading, session limits, sampling parameters.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    /// `general.architecture` names an architecture EdgeLM does not implement.
    case unsupportedArchitecture(String)
    /// A required tensor is absent from the file.
    case missingTensor(String)
    /// A tensor has a different shape than the hyperparameters imply.
    case tensorShapeMismatch(name: String, expected: [Int], found: [Int])
    /// A hyperparameter is missing, zero or inconsistent.
    case invalidHyperparameter(String)
    /// A tensor's quantization type has no kernel.
    case unsupportedTensorType(name: String, type: String)
    /// The prompt (plus what is already in the session) does not fit the session's context.
    case contextOverflow(needed: Int, contextLength: Int)
    /// A token id is outside the vocabulary.
    case invalidToken(Int32, vocabularySize: Int)
    /// The prompt is empty after tokenization (nothing to evaluate).
    case emptyPrompt
    /// A sampling or session parameter is out of range.
    case invalidParameter(String)
    /// The model file could not be found.
    case modelNotFound(path: String)
    /// The caller cancelled the evaluation (``Session/shouldStop``, Swift `Task` cancellation of an ``Engine`` call).
    case cancelled

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a):
            return "unsupported model architecture '\(SafeText.quote(a))' (supported: \(ArchitectureRegistry.names.joined(separator: ", ")))"
        case .missingTensor(let n):
            return "tensor '\(n)' is missing from the model file; the file is incomplete or not a \(ArchitectureRegistry.names.joined(separator: "/")) model"
        case .tensorShapeMismatch(let n, let e, let f):
            return "tensor '\(n)' has shape \(f), expected \(e) from the model's hyperparameters"
        case .invalidHyperparameter(let s):
            return "invalid hyperparameter: \(s)"
        case .unsupportedTensorType(let n, let t) where n.hasSuffix("norm.weight"):
            return "tensor '\(n)' uses type \(t), but norm weights must be F32; re-convert the model keeping norm tensors in F32 (llama.cpp's converter does by default)"
        case .unsupportedTensorType(let n, let t):
            return "tensor '\(n)' uses quantization type \(t), which EdgeLM cannot compute with yet; requantize the model (e.g. Q4_1, Q8_0, Q4_K)"
        case .contextOverflow(let needed, let ctx):
            return "the input needs \(needed) tokens of context but the session holds \(ctx); shorten the input or raise the context length (--ctx)"
        case .invalidToken(let t, let n):
            return "token id \(t) is outside the vocabulary (0..<\(n))"
        case .emptyPrompt:
            return "the prompt is empty; give at least one token of input"
        case .invalidParameter(let s):
            return "invalid parameter: \(s)"
        case .modelNotFound(let p):
            return "model file not found: \(p); run weights/fetch.sh to download the default models, or pass --model PATH"
        case .cancelled:
            return "the evaluation was cancelled by its caller"
        }
    }
}
