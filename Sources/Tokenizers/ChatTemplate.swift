// Tokenizers: rendering chat prompts for `--chat` from the model's `tokenizer.chat_template`.
//
// The Jinja source is not executed; it is recognised by its markers (like llama.cpp llm_chat_detect_template)
// and rendered by a built-in formatter that reproduces what the template would output.

import GGUF

/// One chat turn.
public struct ChatMessage: Sendable, Equatable {
    /// "system", "user" or "assistant".
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: "system", content: text) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: "user", content: text) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: "assistant", content: text) }
}

/// A chat prompt format detected from a model's template.
public struct ChatTemplate: Sendable, Equatable {
    public enum Style: Sendable, Equatable {
        /// `<|im_start|>{role}\n{content}<|im_end|>\n` … `<|im_start|>assistant\n`. `defaultSystem` is injected
        /// when the conversation does not start with a system message (SmolLM2's template does this).
        case chatML(defaultSystem: String?)
        /// `<start_of_turn>user\n{system}\n\n{content}<end_of_turn>\n` … `<start_of_turn>model\n` (Gemma; the
        /// system prompt is merged into the first user turn, "assistant" is spelled "model").
        case gemma
        /// No template (a base model): plain text — the system text, a blank line, the user's text and a newline;
        /// no role markers. Used by the task prompts only (``TaskRunner`` then opens the answer itself, e.g.
        /// `Label:`); `--chat` refuses a model without a template instead.
        case plainText
    }

    public let style: Style

    public init(style: Style) { self.style = style }

    /// Detects the format from `tokenizer.chat_template`. A file without one (a base model, e.g. Gemma 3 270M)
    /// gets no format guessed from its architecture: another model's template would be applied silently.
    /// - Throws: `TokenizerError.noChatTemplate` when there is no template, `.unsupportedChatTemplate` for
    ///   templates of other families.
    public init(template: String?, architecture: String? = nil) throws {
        guard let template else { throw TokenizerError.noChatTemplate(architecture: architecture) }
        if template.contains("<|im_start|>") {
            style = .chatML(defaultSystem: Self.chatMLDefaultSystem(in: template))
        } else if template.contains("<start_of_turn>") {
            style = .gemma
        } else {
            throw TokenizerError.unsupportedChatTemplate(excerpt: String(template.prefix(60)).debugDescription)
        }
    }

    /// Detects the format of a GGUF model from `tokenizer.chat_template` and `general.architecture`.
    /// - Throws: `TokenizerError.unsupportedChatTemplate`, or `.invalidValue` when a key has the wrong type.
    public init(metadata: GGUFMetadata) throws {
        func string(_ key: String) throws -> String? {
            do { return try metadata.optionalString(key) } catch {
                throw TokenizerError.invalidValue(key: key, reason: "\(error)")
            }
        }
        try self.init(template: string("tokenizer.chat_template"), architecture: string("general.architecture"))
    }

    /// Renders `messages`, ending with the assistant-turn header when `addGenerationPrompt`.
    /// The result contains control-token texts: tokenize it with `parseSpecial: true`.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch style {
        case .chatML(let defaultSystem):
            for (i, m) in messages.enumerated() {
                if i == 0, m.role != "system", let defaultSystem {
                    out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
                }
                out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n"
            }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .gemma:
            var system: String? = nil
            var first = true
            for m in messages {
                if m.role == "system" {
                    system = (system.map { $0 + "\n\n" } ?? "") + m.content
                    continue
                }
                let role = m.role == "assistant" ? "model" : m.role
                var content = m.content
                if first, let s = system {
                    content = s + "\n\n" + content
                    system = nil
                }
                first = false
                out += "<start_of_turn>\(role)\n\(content)<end_of_turn>\n"
            }
            if let s = system { out += "<start_of_turn>user\n\(s)\n\n<end_of_turn>\n" }
            if addGenerationPrompt { out += "<start_of_turn>model\n" }
        case .plainText:
            for m in messages { out += m.content + (m.role == "system" ? "\n\n" : "\n") }
        }
        return out
    }

    /// Renders a single-turn prompt: optional system message, then the user's message.
    public func prompt(user: String, system: String? = nil) -> String {
        var messages: [ChatMessage] = []
        if let system { messages.append(.system(system)) }
        messages.append(.user(user))
        return render(messages)
    }

    /// The system text a ChatML template injects when the first message is not a system message, if any:
    /// the literal after `<|im_start|>system\n` inside a `messages[0]['role'] != 'system'` branch.
    static func chatMLDefaultSystem(in template: String) -> String? {
        guard template.contains("!= 'system'") || template.contains("!= \"system\"") else { return nil }
        for header in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            guard let start = template.firstRange(of: header),
                  let end = template[start.upperBound...].firstRange(of: "<|im_end|>")
            else { continue }
            let literal = String(template[start.upperBound..<end.lowerBound])
            // A Jinja expression rather than a literal means the text is not fixed.
            if literal.contains("{{") || literal.contains("'") || literal.contains("\"") { return nil }
            return literal.replacing("\\n", with: "\n")
        }
        return nil
    }
}
