// Tasks: the typed errors of the task API (classify / extract / rewrite / routing).

/// Errors of the task API. Every case says what went wrong and how to fix it (`description`).
public enum TasksError: Error, CustomStringConvertible, Equatable {
    /// The input (prompt + text + room for the answer) needs more tokens than the session's context.
    case inputTooLong(tokens: Int, contextLength: Int)
    /// `classify` needs at least two distinct, non-empty labels.
    case invalidLabels(String)
    /// A request parameter is out of range (e.g. `maxTokens < 1`).
    case invalidParameter(String)
    /// A labels file (`--labels-file`) is not a JSON array of `{"label", "description"}` entries.
    case invalidLabelsFile(String)
    /// A few-shot examples file (`--examples`) has a bad line, or an example's label is not in the label set.
    case invalidExamples(String)
    /// The schema uses a JSON Schema feature `extract` does not support (rejected before any decoding).
    case unsupportedSchema(path: String, reason: String)
    /// The schema document is not valid JSON / not a JSON object.
    case invalidSchema(String)
    /// A value failed validation against the schema (used by ``JSONSchema/validate(_:)``).
    case schemaViolation(path: String, reason: String)
    /// The model has no chat template EdgeLM can render.
    case unsupportedModel(String)
    /// The router needed the remote handler and it could not be reached (or none is configured).
    case remoteUnavailable(String)
    /// The remote endpoint answered, but not with something usable (HTTP error, malformed body).
    case remoteFailed(String)
    /// No local model and no remote handler: nothing can run the task.
    case noHandler

    public var description: String {
        switch self {
        case .inputTooLong(let n, let ctx):
            return "the input needs \(n) tokens but the context holds \(ctx); shorten the text or use a larger context / device profile (it is refused rather than truncated)"
        case .invalidLabels(let s):
            return "invalid labels: \(s) (give at least two distinct, non-empty labels, e.g. --labels positive,negative)"
        case .invalidParameter(let s):
            return "invalid parameter: \(s)"
        case .invalidLabelsFile(let s):
            return "invalid labels file: \(s) (expected a JSON array such as [{\"label\": \"billing\", \"description\": \"charges, invoices, refunds\"}, …])"
        case .invalidExamples(let s):
            return "invalid examples: \(s) (expected JSON Lines such as {\"text\": \"I was charged twice\", \"label\": \"billing\"}, one per line, labels from the label set)"
        case .unsupportedSchema(let path, let reason):
            return "unsupported schema at \(path): \(reason) (supported: object/properties/required, string (maxLength), number, integer, boolean, enum, null unions, arrays (maxItems), nested objects)"
        case .invalidSchema(let s):
            return "invalid schema: \(s) (the schema must be a JSON object such as {\"type\":\"object\",\"properties\":{…}})"
        case .schemaViolation(let path, let reason):
            return "value does not match the schema at \(path): \(reason)"
        case .unsupportedModel(let s):
            return "the model cannot run tasks: \(s) (use a chat model with a ChatML or Gemma template)"
        case .remoteUnavailable(let s):
            return "remote model unavailable: \(s) (check the endpoint URL and network, or configure the router to fall back to the local result)"
        case .remoteFailed(let s):
            return "remote model failed: \(s)"
        case .noHandler:
            return "no local model and no remote endpoint configured; load a model or set a remote endpoint"
        }
    }
}
