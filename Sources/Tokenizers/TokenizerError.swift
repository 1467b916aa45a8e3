// Tokenizers: typed errors with a hint on how to fix them. File-derived text is quoted through SafeText.

import GGUF

/// Why a tokenizer (or chat template) could not be built from a model's metadata.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A required metadata key is absent.
    case missingKey(String)
    /// A metadata key holds a value of the wrong type or shape.
    case invalidValue(key: String, reason: String)
    /// `tokenizer.ggml.model` names a tokenizer this engine does not implement.
    case unsupportedModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer this engine does not implement.
    case unsupportedPreTokenizer(String)
    /// The vocabulary has no tokens.
    case emptyVocabulary
    /// Two vocabulary entries have the same text (llama.cpp refuses such files too).
    case duplicateToken(text: String, firstID: Int, secondID: Int)
    /// A `tokenizer.ggml.merges` entry is not two space-separated pieces.
    case malformedMerge(index: Int, merge: String)
    /// A per-token array (types, scores) is shorter than the token list.
    case lengthMismatch(key: String, expected: Int, actual: Int)
    /// The model's chat template is not one this engine can render.
    case unsupportedChatTemplate(excerpt: String)
    /// The model has no `tokenizer.chat_template` (a base model): there is no chat format to apply.
    case noChatTemplate(architecture: String?)

    public var description: String {
        switch self {
        case .missingKey(let key):
            return "tokenizer metadata key '\(SafeText.quote(key))' is missing. Hint: the GGUF file has no (complete) embedded "
                + "tokenizer; re-convert it with llama.cpp's convert_hf_to_gguf.py."
        case .invalidValue(let key, let reason):
            return "tokenizer metadata key '\(SafeText.quote(key))' is invalid: \(SafeText.quote(reason, limit: 256)). Hint: the file may be corrupt or "
                + "written by an incompatible converter."
        case .unsupportedModel(let model):
            return "unsupported tokenizer model '\(SafeText.quote(model))' (tokenizer.ggml.model). Hint: supported models are "
                + "'gpt2' (byte-level BPE) and 'llama' (SentencePiece)."
        case .unsupportedPreTokenizer(let pre):
            return "unsupported pre-tokenizer '\(SafeText.quote(pre))' (tokenizer.ggml.pre). Hint: supported are default, gpt-2, "
                + "smollm, starcoder, llama3/llama-bpe, qwen2 and their llama.cpp aliases."
        case .emptyVocabulary:
            return "the tokenizer vocabulary (tokenizer.ggml.tokens) is empty. Hint: the file is vocab-less."
        case .duplicateToken(let text, let a, let b):
            return "duplicate token '\(SafeText.quote(text))' in the vocabulary (ids \(a) and \(b)). Hint: the file is corrupt."
        case .malformedMerge(let index, let merge):
            return "merge #\(index) '\(SafeText.quote(merge))' is not of the form 'left right'. Hint: tokenizer.ggml.merges is "
                + "corrupt; re-convert the model."
        case .lengthMismatch(let key, let expected, let actual):
            return "'\(SafeText.quote(key))' has \(actual) entries but the vocabulary has \(expected) tokens. Hint: the file is "
                + "corrupt."
        case .unsupportedChatTemplate(let excerpt):
            return "unsupported chat template (starts with: \(SafeText.quote(excerpt))). Hint: ChatML (<|im_start|>) and Gemma "
                + "(<start_of_turn>) templates are supported; pass a raw prompt instead of using --chat."
        case .noChatTemplate(let arch):
            return "the model\(arch.map { " (\($0))" } ?? "") has no chat template (tokenizer.chat_template): it is a base model "
                + "that continues text. Hint: drop --chat and write the prompt as text to continue (tasks use a "
                + "plain-text prompt format on such models)."
        }
    }
}
