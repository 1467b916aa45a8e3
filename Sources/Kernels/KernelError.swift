// Typed errors of the Kernels module. Kernels themselves use `precondition` on programmer errors inside hot
// loops; these errors are thrown at the boundaries (checked entry points, matrix construction).

/// Errors thrown by the checked entry points of the Kernels module.
public enum KernelError: Error, CustomStringConvertible {
    /// The tensor type has no kernel here (e.g. an IQ* format). Carries the ggml type name.
    case unsupportedType(String)
    /// An element count that is not a whole number of blocks of the type (or is negative).
    case invalidCount(type: String, count: Int, blockSize: Int)

    public var description: String {
        switch self {
        case .unsupportedType(let name):
            return "Kernels: tensor type \(name) is not supported. "
                + "Hint: supported are F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; "
                + "re-quantize the model (e.g. llama-quantize … Q4_K_M)."
        case .invalidCount(let type, let count, let blockSize):
            return "Kernels: \(count) elements is not a whole number of \(type) blocks of \(blockSize). "
                + "Hint: the row length (ne0) of a \(type) tensor must be a multiple of \(blockSize)."
        }
    }
}
