// Tasks: label sets as users write them — labels in any case style (humanised into words for scoring, shown
// back unchanged), optional descriptions, few-shot examples — and their file formats.

import EdgeLMEssentials

/// One label of a ``LabelSet``: the label as the user wrote it, and optionally what it means.
public struct LabelSpec: Sendable, Equatable, Hashable {
    /// The label exactly as given; results report it unchanged.
    public var label: String
    /// What the label covers ("charges, invoices, refunds"), listed in the prompt; nil for none.
    public var description: String?
    /// The words the model scores for this label, overriding the humanised spelling (``LabelWords``); nil for
    /// the humanised words.
    public var words: String?

    public init(_ label: String, description: String? = nil, words: String? = nil) {
        self.label = label; self.description = description; self.words = words
    }
}

/// A labelled example for few-shot prompting (`--examples FILE.jsonl`: `{"text": …, "label": …}` per line).
public struct LabeledExample: Sendable, Equatable, Hashable {
    public var text: String
    public var label: String
    public init(text: String, label: String) { self.text = text; self.label = label }
}

/// What `classify` chooses among: the labels (with optional descriptions), optional few-shot examples and an
/// optional instruction.
///
/// Everything here goes into the *shared prompt prefix* — the part before the text — so with a
/// ``TaskRunner`` its KV state is computed once per label set and reused for every input (kept in the
/// session and in the runner's ``PrefixCache``). Labels may be written in any case style: `set_alarm`,
/// `technical-issue`, `cancelSubscription`, `NOT_SPAM`, ISO language codes `en,fr,de`; the model scores their
/// humanised words (``LabelWords/humanise(_:)``: "set alarm", "technical issue", "cancel subscription", "not
/// spam", "English") while results carry the labels as written.
public struct LabelSet: Sendable, Equatable, Hashable {
    /// The labels, in request order (probabilities are reported in this order).
    public var labels: [LabelSpec]
    /// Few-shot examples; at most ``examplesPerLabel`` per label are used, in file order, interleaved by label.
    public var examples: [LabeledExample]
    /// How many examples of each label go into the prompt (the `k` of k-shot).
    public var examplesPerLabel: Int
    /// Replaces the default instruction line ("Classify the text.").
    public var instruction: String?
    /// Score humanised words (default) rather than the labels verbatim.
    public var humanise: Bool

    /// Default `k` of k-shot: 4, chosen on the tune split of docs/data/classify-families.jsonl (SmolLM2 84.6 % with
    /// 2, 85.3 % with 4; docs/tasks.md).
    public static let defaultExamplesPerLabel = 4

    public init(labels: [LabelSpec], examples: [LabeledExample] = [], examplesPerLabel: Int = LabelSet.defaultExamplesPerLabel,
                instruction: String? = nil, humanise: Bool = true) {
        self.labels = labels; self.examples = examples; self.examplesPerLabel = examplesPerLabel
        self.instruction = instruction; self.humanise = humanise
    }

    /// Plain labels without descriptions or examples.
    public init(_ labels: [String], instruction: String? = nil) {
        self.init(labels: labels.map { LabelSpec($0) }, instruction: instruction)
    }

    /// The labels as written.
    public var names: [String] { labels.map(\.label) }

    /// The words scored for each label (request order): a label's own ``LabelSpec/words``, else the humanised
    /// label (when ``humanise``), else the label verbatim.
    public var words: [String] {
        let human = humanise ? LabelWords.humanise(names) : names
        return zip(labels, human).map { spec, h in spec.words.map { $0.trimmingWhitespace() } ?? h }
    }

    /// The few-shot examples that go into the prompt: up to ``examplesPerLabel`` per label in file order,
    /// interleaved (round r holds each label's r-th example, in label order), as (text, label index).
    public var shots: [(text: String, label: Int)] {
        guard examplesPerLabel > 0 else { return [] }
        var perLabel = [[String]](repeating: [], count: labels.count)
        for e in examples {
            if let i = labels.firstIndex(where: { $0.label == e.label }) { perLabel[i].append(e.text) }
        }
        var out: [(String, Int)] = []
        for round in 0..<examplesPerLabel {
            for i in labels.indices where round < perLabel[i].count { out.append((perLabel[i][round], i)) }
        }
        return out
    }

    /// Checks the set: ≥ 2 labels, none empty, distinct (ignoring case), distinct scored words (ignoring the
    /// case of their first letter), every example's label in the set, `examplesPerLabel ≥ 0`.
    /// - Throws: ``TasksError/invalidLabels(_:)``.
    public func validate() throws {
        guard labels.count >= 2 else { throw TasksError.invalidLabels("got \(labels.count) label(s)") }
        guard labels.allSatisfy({ !$0.label.trimmingWhitespace().isEmpty }) else {
            throw TasksError.invalidLabels("a label is empty")
        }
        guard Set(names.map { $0.lowercased() }).count == labels.count else {
            throw TasksError.invalidLabels("labels repeat (ignoring case): \(names)")
        }
        let w = words
        guard w.allSatisfy({ !$0.isEmpty }) else { throw TasksError.invalidLabels("a label's words are empty") }
        var seen: [String: String] = [:]
        for (name, word) in zip(names, w) {
            let key = LabelWords.capitalised(word)
            if let other = seen[key] {
                throw TasksError.invalidLabels("'\(other)' and '\(name)' read the same ('\(key)'); rename one or give it \"words\" in a labels file")
            }
            seen[key] = name
        }
        guard examplesPerLabel >= 0 else { throw TasksError.invalidParameter("examples per label must be ≥ 0, got \(examplesPerLabel)") }
        for e in examples where !names.contains(e.label) {
            throw TasksError.invalidExamples("example label '\(e.label)' is not one of the labels \(names)")
        }
    }

    // MARK: - Files

    /// The parser's own message ("JSON parse error at byte 20: unterminated object"), without the schema wording.
    static func parseMessage(_ error: Error) -> String {
        if case TasksError.invalidSchema(let m) = error { return m }
        return "not JSON: \(error)"
    }

    /// Parses a labels file: a JSON array of `{"label": "billing", "description": "charges, invoices", "words"?: "…"}`
    /// objects (or of plain strings).
    /// - Throws: ``TasksError/invalidLabelsFile(_:)`` naming the entry and what is wrong.
    public static func parseLabelsFile(_ data: Data) throws -> [LabelSpec] {
        let v: JSONValue
        do { v = try JSONValue.parse(Array(data)) } catch {
            throw TasksError.invalidLabelsFile(Self.parseMessage(error))
        }
        guard case .array(let items) = v else {
            throw TasksError.invalidLabelsFile("the top level must be an array of {\"label\": …, \"description\": …} objects")
        }
        var out: [LabelSpec] = []
        for (i, item) in items.enumerated() {
            switch item {
            case .string(let s): out.append(LabelSpec(s))
            case .object(let members):
                for (k, _) in members where !["label", "description", "words"].contains(k) {
                    throw TasksError.invalidLabelsFile("entry \(i + 1): unknown key \"\(k)\" (allowed: label, description, words)")
                }
                guard case .string(let label)? = item["label"] else {
                    throw TasksError.invalidLabelsFile("entry \(i + 1): \"label\" must be a string")
                }
                func optional(_ key: String) throws -> String? {
                    switch item[key] {
                    case nil, .null?: return nil
                    case .string(let s)?: return s.isEmpty ? nil : s
                    default: throw TasksError.invalidLabelsFile("entry \(i + 1): \"\(key)\" must be a string")
                    }
                }
                out.append(LabelSpec(label, description: try optional("description"), words: try optional("words")))
            default:
                throw TasksError.invalidLabelsFile("entry \(i + 1) must be an object {\"label\": …, \"description\": …} or a string")
            }
        }
        return out
    }

    /// Parses a few-shot examples file: JSON Lines of `{"text": …, "label": …}` (blank lines and `//` comments
    /// are skipped; other keys are ignored).
    /// - Throws: ``TasksError/invalidExamples(_:)`` naming the line.
    public static func parseExamples(_ data: Data) throws -> [LabeledExample] {
        var out: [LabeledExample] = []
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingWhitespace()
            if t.isEmpty || t.hasPrefix("//") { continue }
            let v: JSONValue
            do { v = try JSONValue.parse(t) } catch { throw TasksError.invalidExamples("line \(i + 1): \(Self.parseMessage(error))") }
            guard case .string(let text)? = v["text"], case .string(let label)? = v["label"] else {
                throw TasksError.invalidExamples("line \(i + 1): needs string \"text\" and \"label\"")
            }
            guard !text.isEmpty else { throw TasksError.invalidExamples("line \(i + 1): empty \"text\"") }
            out.append(LabeledExample(text: text, label: label))
        }
        return out
    }
}

/// Turns labels as people write them into the words a model reads.
public enum LabelWords {
    /// ISO 639-1 codes recognised as a whole label set of language codes.
    public static let languages: [String: String] = [
        "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
        "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish",
        "fr": "French", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian",
        "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch",
        "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
        "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian",
        "vi": "Vietnamese", "zh": "Chinese",
    ]

    /// The words of each label (same order):
    /// - a set made only of two-letter ISO 639-1 codes (`en, fr, de`) reads as language names;
    /// - otherwise each label is split at `_`, `-`, `.`, `/`, spaces, lower→upper case changes and letter/digit
    ///   changes (`set_alarm`, `technical-issue`, `cancelSubscription`, `HTTPError`, `NOT_SPAM`);
    /// - words are lower-cased, except acronyms (an all-capitals word of ≥ 2 letters) in a label that is not
    ///   SCREAMING_CASE; a label is SCREAMING_CASE when it is all capitals and has a separator, or when every
    ///   label of the set is all capitals (`SPAM, NOT_SPAM` → "spam", "not spam"; `FAQ` among others stays).
    /// The Python twin is `Benchmarks/tasks/labels.py`.
    public static func humanise(_ labels: [String]) -> [String] {
        if !labels.isEmpty, labels.allSatisfy({ $0.count == 2 && languages[$0.lowercased()] != nil }) {
            return labels.map { languages[$0.lowercased()]! }
        }
        let allCaps = labels.allSatisfy { $0.uppercased() == $0 }
        return labels.map { label in
            let ws = words(label)
            guard !ws.isEmpty else { return label.trimmingWhitespace() }
            let hasSeparator = label.contains { "_-./ ".contains($0) }
            let screaming = label.uppercased() == label && (allCaps || hasSeparator)
            return ws.map { w in
                let letters = w.filter(\.isLetter)
                let acronym = !screaming && letters.count >= 2 && w.uppercased() == w && w.lowercased() != w
                return acronym ? w : w.lowercased()
            }.joined(separator: " ")
        }
    }

    /// Splits one label into words: at separators (`_ - . /` and whitespace), before an upper-case letter that
    /// follows a lower-case one (`cancelSubscription`), before the last capital of an acronym followed by
    /// lower case (`HTTPError` → HTTP, Error), and between letters and digits.
    static func words(_ label: String) -> [String] {
        var out: [String] = []
        var current: [Character] = []
        let chars = Array(label)
        func flush() { if !current.isEmpty { out.append(String(current)); current = [] } }
        for (i, c) in chars.enumerated() {
            if "_-./".contains(c) || c.isWhitespace { flush(); continue }
            if let p = current.last {
                let next = i + 1 < chars.count ? chars[i + 1] : nil
                let boundary =
                    (p.isLowercase && c.isUppercase)
                    || (p.isUppercase && c.isUppercase && (next?.isLowercase ?? false))
                    || (p.isLetter && c.isNumber) || (p.isNumber && c.isLetter)
                if boundary { flush() }
            }
            current.append(c)
        }
        flush()
        return out
    }

    /// `word` with its first letter upper-cased (the spelling scored after `Label:`).
    public static func capitalised(_ word: String) -> String {
        word.prefix(1).uppercased() + word.dropFirst()
    }
}
