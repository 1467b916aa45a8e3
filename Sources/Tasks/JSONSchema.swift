// Tasks: the JSON Schema subset `extract` supports, parsed and checked up front, plus a validator.

import EdgeLMEssentials

/// A JSON Schema in the subset EdgeLM can decode under constraint:
/// `type` object (with `properties`, `required`), string (`maxLength`), number, integer, boolean, `enum`,
/// `["T", "null"]` (nullable), array (`items`, `maxItems`); on strings `format` (email, uri, date, time,
/// date-time, phone: ``SpanType/forFormat(_:)``), `pattern`, and the extensions `"x-edgelm-source"` and
/// `"x-edgelm-type"`. `title`, `description`, `$schema`, `default`, `examples` and `additionalProperties` are
/// accepted and ignored (the decoder never emits extra keys). Anything else (`$ref`, `anyOf`, `minimum`, an
/// unknown format, …) is rejected by ``init(json:)``. Free-form values (OpenAI's `response_format: json_object`): an
/// object schema without `properties` is any object, and a schema with no `type` or `enum` at all (`{}`) any JSON value.
public struct JSONSchema: Sendable, Equatable {
    /// One object property, in schema order.
    public struct Property: Sendable, Equatable {
        public var name: String
        public var schema: JSONSchema
        public var required: Bool
        public init(name: String, schema: JSONSchema, required: Bool) {
            self.name = name; self.schema = schema; self.required = required
        }
    }

    public indirect enum Kind: Sendable, Equatable {
        case string(maxLength: Int?)
        case number
        case integer
        case boolean
        /// `enum`: the allowed values (strings, numbers, booleans or null).
        case enumeration([JSONValue])
        case array(items: JSONSchema, maxItems: Int?)
        case object([Property])
        /// Any object (`{"type": "object"}` without `properties`): free keys, values of any JSON type.
        case anyObject
        /// Any JSON value (a schema without `type` or `enum`, e.g. `{}`).
        case any
    }

    /// Any JSON object: what OpenAI's `response_format: {"type": "json_object"}` asks for.
    public static let anyObject = JSONSchema(kind: .anyObject)

    public var kind: Kind
    /// `null` is also allowed (`"type": ["string", "null"]`).
    public var nullable: Bool
    /// The schema's `description`, shown to the model in the prompt.
    public var description: String?
    /// Where a string's value comes from (`"x-edgelm-source"`); nil when the schema does not say
    /// (``SpanPolicy`` decides).
    public var source: ValueSource?
    /// The kind of value the field holds (from `format` or `"x-edgelm-type"`): `extract` restricts it to spans
    /// of the input of that type (``SpanLexer``). Nil when the schema does not say.
    public var valueType: SpanType?
    /// `"x-edgelm-type": "any"`: no type, not even one the property name suggests.
    public var untyped = false
    /// JSON Schema `pattern` (an ICU regular expression the value must contain a match of): `extract` takes
    /// the value from the pattern's matches in the input; ``validate(_:path:)`` checks it.
    public var pattern: String?

    /// Where a string field's value comes from: the `"x-edgelm-source"` schema extension.
    public enum ValueSource: String, Sendable, Equatable {
        /// Copied from the input: `extract` constrains it to a substring of the text (`"span"`).
        case span
        /// Written by the model (a summary, a paraphrase): unconstrained (`"free"`).
        case free
    }

    public init(kind: Kind, nullable: Bool = false, description: String? = nil, source: ValueSource? = nil,
                valueType: SpanType? = nil, untyped: Bool = false, pattern: String? = nil) {
        self.kind = kind; self.nullable = nullable; self.description = description; self.source = source
        self.valueType = valueType; self.untyped = untyped; self.pattern = pattern
    }

    /// What restricts this field's value to candidates found in the input under `policy` (strings of a span
    /// field, and numbers), or nil for none: the schema's `pattern`, its type (`format` / `"x-edgelm-type"`),
    /// else under ``SpanTypePolicy/auto`` the type the property name suggests (``SpanType/forName(_:)``) —
    /// and every number / integer field not marked `"x-edgelm-source": "free"` takes a number of the text.
    public func candidateKind(named name: String?, policy: SpanTypePolicy) -> (type: SpanType?, pattern: String?)? {
        switch kind {
        case .string:
            if let pattern { return (policy == .off ? nil : valueType, pattern) }
            guard policy != .off, !untyped else { return nil }
            if let valueType { return (valueType, nil) }
            guard policy == .auto, let name, let t = SpanType.forName(name) else { return nil }
            return (t, nil)
        case .number, .integer:
            guard policy == .auto, source != .free else { return nil }
            return (.number, nil)
        default:
            return nil
        }
    }

    /// Property names that read as generated text: under ``SpanPolicy/auto`` an unmarked string property with
    /// one of these names is free text (not constrained to spans of the input).
    public static let freeTextNames: Set<String> = [
        "summary", "abstract", "explanation", "reason", "reasoning", "rationale", "translation", "paraphrase",
        "rewrite", "answer", "reply", "response", "comment", "comments", "notes", "tldr",
    ]

    /// Whether this string schema, as the value of a property named `name` (nil for the top level or an array's
    /// items without a name), is constrained to spans of the input under `policy`: marked `span` (unless the
    /// policy is `off`), or unmarked under `auto` with a name outside ``freeTextNames``. False for non-strings.
    public func isSpan(named name: String?, policy: SpanPolicy) -> Bool {
        guard case .string = kind else { return false }
        switch (policy, source) {
        case (.off, _): return false
        case (_, .span?): return true
        case (_, .free?): return false
        case (.marked, nil): return false
        case (.auto, nil):
            guard let name else { return true }
            let key = name.lowercased().filter { $0.isLetter }
            return !Self.freeTextNames.contains { key == $0 || key.hasSuffix($0) }   // "summary", "short_summary"
        }
    }

    /// Most properties per object / values per enum the constrained decoder tracks (a 64-bit candidate set).
    public static let maxAlternatives = 64

    /// Parses a schema document.
    /// - Throws: ``TasksError/invalidSchema(_:)`` when it is not a JSON object, ``TasksError/unsupportedSchema(path:reason:)``
    ///   for any keyword outside the subset (before any decoding starts).
    public init(json text: String) throws {
        let v = try JSONValue.parse(text)
        try Self.rejectDuplicateKeys(v, path: "$")
        try self.init(value: v)
        switch kind {
        case .object, .anyObject: break
        default: throw TasksError.unsupportedSchema(path: "$", reason: "the top level must be {\"type\":\"object\"}")
        }
    }

    /// Throws ``TasksError/invalidSchema(_:)`` for the first object (at any depth) that repeats a key: a schema
    /// with two `"type"` or two same-named properties is ambiguous, so it is refused before anything decodes.
    static func rejectDuplicateKeys(_ v: JSONValue, path: String) throws {
        switch v {
        case .object(let members):
            var seen = Set<String>()
            for (k, value) in members {
                guard seen.insert(k).inserted else {
                    throw TasksError.invalidSchema("duplicate key \(JSONValue.string(k)) in the object at \(path)")
                }
                try rejectDuplicateKeys(value, path: path + "." + k)
            }
        case .array(let items):
            for (i, item) in items.enumerated() { try rejectDuplicateKeys(item, path: path + "[\(i)]") }
        default: return
        }
    }

    /// Parses a schema from a JSON value (any level; ``init(json:)`` also requires an object at the top).
    public init(value: JSONValue, path: String = "$") throws {
        guard case .object(let members) = value else {
            throw TasksError.invalidSchema("\(path) is not a JSON object")
        }
        let ignored: Set<String> = ["title", "description", "$schema", "default", "examples", "additionalProperties", "$id", "$comment"]
        let known: Set<String> = ["type", "properties", "required", "maxLength", "enum", "items", "maxItems", "x-edgelm-source",
                                  "format", "pattern", "x-edgelm-type"]
        for (k, _) in members where !ignored.contains(k) && !known.contains(k) {
            throw TasksError.unsupportedSchema(path: path, reason: "keyword '\(k)' is not supported")
        }
        if case .bool(true)? = value["additionalProperties"] {
            // Extra keys are allowed but never produced: fine.
        }
        var description: String? = nil
        if let d = value["description"] {
            guard case .string(let s) = d else { throw TasksError.unsupportedSchema(path: path, reason: "description must be a string") }
            description = s
        }
        var source: ValueSource? = nil
        if let v = value["x-edgelm-source"] {
            guard case .string(let t) = v, let parsed = ValueSource(rawValue: t) else {
                throw TasksError.unsupportedSchema(path: path, reason: "x-edgelm-source must be \"span\" or \"free\"")
            }
            source = parsed
        }
        var nullable = false
        var typeName: String? = nil
        switch value["type"] {
        case .string(let t)?: typeName = t
        case .array(let ts)?:
            var names: [String] = []
            for t in ts {
                guard case .string(let s) = t else { throw TasksError.unsupportedSchema(path: path, reason: "type entries must be strings") }
                if s == "null" { nullable = true } else { names.append(s) }
            }
            guard names.count == 1 else {
                throw TasksError.unsupportedSchema(path: path, reason: "a type union must be one type plus \"null\", got \(ts.map(\.description))")
            }
            typeName = names[0]
        case nil: typeName = nil
        default: throw TasksError.unsupportedSchema(path: path, reason: "type must be a string or an array")
        }

        func isType(_ names: Set<String>) -> Bool {
            if case .string(let t)? = value["type"] { return names.contains(t) }
            if case .array(let ts)? = value["type"] { return ts.contains { if case .string(let t) = $0 { return names.contains(t) }; return false } }
            return false
        }
        if source != nil, value["enum"] != nil || !isType(["string", "number", "integer"]) {
            throw TasksError.unsupportedSchema(path: path, reason: "x-edgelm-source applies to string and number fields only (not enums or other types)")
        }
        if source == .span && !isType(["string"]) {
            throw TasksError.unsupportedSchema(path: path, reason: "x-edgelm-source \"span\" applies to string fields (numbers take numbers of the text by default)")
        }
        var valueType: SpanType? = nil, untyped = false, pattern: String? = nil
        for key in ["format", "pattern", "x-edgelm-type"] where value[key] != nil {
            guard value["enum"] == nil, isType(["string"]) else {
                throw TasksError.unsupportedSchema(path: path, reason: "'\(key)' applies to string fields only")
            }
            guard case .string(let v)? = value[key] else {
                throw TasksError.unsupportedSchema(path: path, reason: "\(key) must be a string")
            }
            switch key {
            case "format":
                guard let t = SpanType.forFormat(v) else {
                    throw TasksError.unsupportedSchema(path: path, reason: "format '\(v)' is not supported (supported: \(SpanType.formats.joined(separator: ", ")))")
                }
                valueType = t
            case "pattern":
                do { _ = try TextPattern(v) } catch {
                    throw TasksError.unsupportedSchema(path: path, reason: "pattern is not a regular expression EdgeLM can search with: \(error)")
                }
                pattern = v
            default:
                if v == "any" { untyped = true } else {
                    guard let t = SpanType(rawValue: v), t != .number else {
                        throw TasksError.unsupportedSchema(path: path, reason: "x-edgelm-type must be one of \((SpanType.allCases.filter { $0 != .number }.map(\.rawValue) + ["any"]).joined(separator: ", ")), got '\(v)'")
                    }
                    valueType = t
                }
            }
        }
        if value["format"] != nil && value["x-edgelm-type"] != nil {
            throw TasksError.unsupportedSchema(path: path, reason: "give either format or x-edgelm-type, not both")
        }
        if source == .free && (valueType != nil || pattern != nil) {
            throw TasksError.unsupportedSchema(path: path, reason: "a free-text field (x-edgelm-source \"free\") cannot have a type or pattern: its value is not taken from the input")
        }
        if let e = value["enum"] {
            guard case .array(let values) = e, !values.isEmpty else {
                throw TasksError.unsupportedSchema(path: path, reason: "enum must be a non-empty array")
            }
            var seen: [String] = []
            var literals: [JSONValue] = []
            for v in values {
                switch v {
                case .null: nullable = true; continue
                case .array, .object: throw TasksError.unsupportedSchema(path: path, reason: "enum values must be strings, numbers or booleans")
                default: break
                }
                let s = v.description
                if !seen.contains(s) { seen.append(s); literals.append(v) }
            }
            guard !literals.isEmpty, literals.count <= Self.maxAlternatives else {
                throw TasksError.unsupportedSchema(path: path, reason: "enum needs 1…\(Self.maxAlternatives) non-null values")
            }
            self.init(kind: .enumeration(literals), nullable: nullable, description: description)
            return
        }

        func positiveInt(_ key: String) throws -> Int? {
            guard let v = value[key] else { return nil }
            guard case .number(let d) = v, d == d.rounded(), d >= 1, d <= 1_000_000 else {
                throw TasksError.unsupportedSchema(path: path, reason: "\(key) must be a positive integer")
            }
            return Int(d)
        }
        func forbid(_ keys: [String], for t: String) throws {
            for k in keys where value[k] != nil {
                throw TasksError.unsupportedSchema(path: path, reason: "'\(k)' does not apply to type \(t)")
            }
        }

        switch typeName {
        case "string":
            try forbid(["properties", "required", "items", "maxItems"], for: "string")
            self.init(kind: .string(maxLength: try positiveInt("maxLength")), nullable: nullable, description: description,
                      source: source, valueType: valueType, untyped: untyped, pattern: pattern)
        case "number", "integer", "boolean":
            try forbid(["properties", "required", "items", "maxItems", "maxLength"], for: typeName!)
            let k: Kind = typeName == "number" ? .number : typeName == "integer" ? .integer : .boolean
            self.init(kind: k, nullable: nullable, description: description, source: typeName == "boolean" ? nil : source)
        case "array":
            try forbid(["properties", "required", "maxLength"], for: "array")
            guard let items = value["items"] else {
                throw TasksError.unsupportedSchema(path: path, reason: "an array needs an 'items' schema")
            }
            let itemSchema = try JSONSchema(value: items, path: path + ".items")
            self.init(kind: .array(items: itemSchema, maxItems: try positiveInt("maxItems")), nullable: nullable, description: description)
        case "object":
            try forbid(["items", "maxItems", "maxLength"], for: "object")
            var required: [String] = []
            if let r = value["required"] {
                guard case .array(let names) = r else { throw TasksError.unsupportedSchema(path: path, reason: "required must be an array") }
                for n in names {
                    guard case .string(let s) = n else { throw TasksError.unsupportedSchema(path: path, reason: "required entries must be strings") }
                    required.append(s)
                }
            }
            var props: [Property] = []
            if let p = value["properties"] {
                guard case .object(let members) = p else { throw TasksError.unsupportedSchema(path: path, reason: "properties must be an object") }
                for (name, sub) in members {
                    guard !name.isEmpty else { throw TasksError.unsupportedSchema(path: path, reason: "empty property name") }
                    props.append(Property(name: name, schema: try JSONSchema(value: sub, path: path + "." + name),
                                          required: required.contains(name)))
                }
            }
            for r in required where !props.contains(where: { $0.name == r }) {
                throw TasksError.unsupportedSchema(path: path, reason: "required property '\(r)' is not in properties")
            }
            guard props.count <= Self.maxAlternatives else {
                throw TasksError.unsupportedSchema(path: path, reason: "at most \(Self.maxAlternatives) properties per object")
            }
            if value["properties"] == nil {   // no properties named: any object
                self.init(kind: .anyObject, nullable: nullable, description: description)
                return
            }
            self.init(kind: .object(props), nullable: nullable, description: description)
        case nil where members.allSatisfy({ ignored.contains($0.0) }):
            self.init(kind: .any, nullable: false, description: description)   // `{}`: any JSON value (null included)
        case nil:
            throw TasksError.unsupportedSchema(path: path, reason: "missing 'type' (or 'enum')")
        default:
            throw TasksError.unsupportedSchema(path: path, reason: "type '\(typeName!)' is not supported")
        }
    }

    // MARK: - Validation

    /// Checks `value` against the schema. - Throws: ``TasksError/schemaViolation(path:reason:)``.
    public func validate(_ value: JSONValue, path: String = "$") throws {
        if case .null = value {
            if nullable { return }
            if case .any = kind { return }
            if case .enumeration(let vs) = kind, vs.contains(.null) { return }
            throw TasksError.schemaViolation(path: path, reason: "null is not allowed")
        }
        switch (kind, value) {
        case (.string(let maxLength), .string(let s)):
            if let m = maxLength, s.unicodeScalars.count > m {
                throw TasksError.schemaViolation(path: path, reason: "string longer than maxLength \(m)")
            }
            if let pattern, !patternMatches(s) {
                throw TasksError.schemaViolation(path: path, reason: "\(JSONValue.string(s)) does not match the pattern \(pattern)")
            }
        case (.number, .number): return
        case (.integer, .number(let d)):
            guard d == d.rounded() else { throw TasksError.schemaViolation(path: path, reason: "\(d) is not an integer") }
        case (.boolean, .bool): return
        case (.enumeration(let vs), _):
            guard vs.contains(value) else { throw TasksError.schemaViolation(path: path, reason: "\(value) is not one of \(vs.map(\.description))") }
        case (.array(let items, let maxItems), .array(let a)):
            if let m = maxItems, a.count > m { throw TasksError.schemaViolation(path: path, reason: "more than \(m) items") }
            for (i, v) in a.enumerated() { try items.validate(v, path: "\(path)[\(i)]") }
        case (.any, _), (.anyObject, .object): return
        case (.object(let props), .object):
            for p in props {
                if let v = value[p.name] { try p.schema.validate(v, path: path + "." + p.name) }
                else if p.required { throw TasksError.schemaViolation(path: path, reason: "missing required property '\(p.name)'") }
            }
        default:
            throw TasksError.schemaViolation(path: path, reason: "expected \(typeDescription), got \(value)")
        }
    }

    /// Whether `s` satisfies the schema's `pattern` (true without one): JSON Schema's search semantics — the
    /// value contains a match (anchor with `^…$` to require the whole value).
    public func patternMatches(_ s: String) -> Bool {
        guard let pattern else { return true }
        guard let re = try? TextPattern(pattern) else { return false }
        return re.isFound(in: s)
    }

    /// A short human/model-readable type, e.g. `string or null`, `"a" | "b"`, `array of integer`.
    public var typeDescription: String {
        var s: String
        switch kind {
        case .string(let m): s = m.map { "string (at most \($0) characters)" } ?? "string"
        case .number: s = "number"
        case .integer: s = "integer"
        case .boolean: s = "true or false"
        case .enumeration(let vs): s = "one of " + vs.map(\.description).joined(separator: ", ")
        case .array(let items, _): s = "list of " + items.typeDescription
        case .object(let props):
            s = "{" + props.map { "\"\($0.name)\": \($0.schema.typeDescription)" }.joined(separator: ", ") + "}"
        case .anyObject: s = "object"
        case .any: s = "any JSON value"
        }
        if nullable { s += " or null" }
        return s
    }
}
