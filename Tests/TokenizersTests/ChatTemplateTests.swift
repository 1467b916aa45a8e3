import GGUF
import Testing
@testable import Tokenizers

@Suite("Chat templates")
struct ChatTemplateTests {
    /// SmolLM2-135M-Instruct's tokenizer.chat_template, verbatim.
    static let smolLM2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        + "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
        + "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

    @Test func smolLM2InjectsDefaultSystem() throws {
        let template = try ChatTemplate(template: Self.smolLM2)
        #expect(template.style == .chatML(
            defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        #expect(template.prompt(user: "Hi") == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
            + "trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(template.prompt(user: "Hi", system: "Be brief.") == "<|im_start|>system\nBe brief.<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func escapedNewlinesInTemplateLiteral() throws {
        let escaped = Self.smolLM2.replacingOccurrences(of: "\n", with: "\\n")
        let template = try ChatTemplate(template: escaped)
        #expect(template.style == .chatML(
            defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
    }

    @Test func plainChatMLHasNoDefaultSystem() throws {
        let t = try ChatTemplate(template: "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}{% endfor %}")
        #expect(t.style == .chatML(defaultSystem: nil))
        #expect(t.render([.user("a"), .assistant("b"), .user("c")], addGenerationPrompt: false)
            == "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n")
    }

    @Test func gemma() throws {
        let t = try ChatTemplate(template: "{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}")
        #expect(t.style == .gemma)
        #expect(t.prompt(user: "Hi", system: "Be brief.")
            == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")
        #expect(t.render([.user("a"), .assistant("b"), .user("c")])
            == "<start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\nb<end_of_turn>\n<start_of_turn>user\nc<end_of_turn>\n<start_of_turn>model\n")
        #expect(try ChatTemplate(template: "{{ '<start_of_turn>' + role }}").style == .gemma)
    }

    @Test func plainTextForBaseModels() {
        let t = ChatTemplate(style: .plainText)
        #expect(t.prompt(user: "Text: hi", system: "Classify the text.") == "Classify the text.\n\nText: hi\n")
        #expect(!t.render([.user("a")]).contains("<"))
    }

    @Test func unknownTemplatesThrow() {
        #expect(throws: TokenizerError.self) { try ChatTemplate(template: "[INST] {{ m }} [/INST]") }
        #expect(throws: TokenizerError.self) { try ChatTemplate(template: nil, architecture: "llama") }
        let error = TokenizerError.unsupportedChatTemplate(excerpt: "x")
        #expect(error.description.contains("Hint"))
    }
}

@Suite("Chat templates from GGUF metadata")
struct ChatTemplateMetadataTests {
    @Test func detectsFromMetadata() throws {
        let chatml = try GGUFMetadata([(key: "tokenizer.chat_template", value: .string(ChatTemplateTests.smolLM2))])
        #expect(try ChatTemplate(metadata: chatml).style == .chatML(
            defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        // A base model without a template gets no format guessed from its architecture.
        let gemma = try GGUFMetadata([(key: "general.architecture", value: .string("gemma3"))])
        #expect(throws: TokenizerError.noChatTemplate(architecture: "gemma3")) { try ChatTemplate(metadata: gemma) }
        #expect("\(TokenizerError.noChatTemplate(architecture: "gemma3"))".contains("drop --chat"))
        #expect(throws: TokenizerError.self) { try ChatTemplate(metadata: try GGUFMetadata([])) }
    }
}
