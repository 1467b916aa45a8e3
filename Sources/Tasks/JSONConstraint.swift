// Tasks: a byte-level incremental validator for JSON under a schema (a pushdown automaton).
//
// `JSONConstraint` accepts exactly the byte strings that are prefixes of compact JSON documents valid under a
// ``JSONSchema`` (with bounded string lengths, array sizes and number digits, so every path is finite):
// - object keys appear in schema order; optional properties may be skipped, required ones may not;
// - one optional space after `:` and `,`; no other whitespace outside strings;
// - strings: no raw control characters, escapes `\" \\ \/ \b \f \n \r \t` (no `\u`), well-formed UTF-8
//   (no overlongs, no surrogates), at most `maxLength` code points;
// - numbers: `-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,8})?` (integers without the fraction), no exponent;
// - span strings (given a source text, per ``SpanPolicy``): the decoded characters are a non-empty substring
//   of the source that neither starts nor ends with whitespace (a ``SpanIndex`` walk).
// `completion()` gives the shortest bytes that finish the document from any reachable state.

/// Limits that keep every constrained output finite (applied where the schema sets none).
public struct JSONConstraintLimits: Sendable, Equatable {
    /// `maxLength` for strings without one.
    public var defaultMaxStringLength: Int = 256
    /// `maxItems` for arrays without one.
    public var defaultMaxItems: Int = 16
    /// Digits before / after the decimal point of numbers.
    public var maxIntegerDigits: Int = 15
    public var maxFractionDigits: Int = 8
    public init(defaultMaxStringLength: Int = 256, defaultMaxItems: Int = 16) {
        self.defaultMaxStringLength = defaultMaxStringLength; self.defaultMaxItems = defaultMaxItems
    }
}

/// A schema flattened into a node table the automaton indexes by `Int32` (frames stay plain values).
final class CompiledSchema: @unchecked Sendable {
    enum Kind: UInt8 { case string, number, integer, literal, array, object, anyValue, anyObject }
    struct Node {
        var kind: Kind
        var nullable: Bool
        var maxLength: Int32 = 0        // string
        var maxItems: Int32 = 0         // array
        var item: Int32 = -1            // array: item node
        var table: Int32 = -1           // literal: table of allowed texts; object: table of quoted keys
        var properties: [Int32] = []    // object: property nodes, schema order
        var requiredMask: UInt64 = 0    // object: bit i = property i is required
        var span = false                // string: constrained to spans of the source
    }
    var nodes: [Node] = []
    var tables: [[[UInt8]]] = []
    let nullTable: Int32
    let limits: JSONConstraintLimits
    var root: Int32 = 0
    /// Nodes of free-form JSON (``JSONSchema/Kind/any`` / ``JSONSchema/Kind/anyObject``), made on first use:
    /// any value, any object, an array of any values, a string, an object key, a number; -1 until then.
    var freeValue: Int32 = -1, freeObject: Int32 = -1, freeArray: Int32 = -1, freeString: Int32 = -1
    var freeKey: Int32 = -1, freeNumber: Int32 = -1
    /// The literals a free value may be: true, false, null.
    var freeLiterals: Int32 = -1
    /// Most keys in one free-form object.
    static let maxFreeProperties: Int32 = 64
    /// The source text's substrings, for span strings (nil: no string is constrained to spans).
    let spans: SpanIndex?
    let policy: SpanPolicy

    init(_ schema: JSONSchema, limits: JSONConstraintLimits, spans: SpanIndex? = nil, policy: SpanPolicy = .auto) {
        self.limits = limits
        self.spans = spans
        self.policy = policy
        tables.append([Array("null".utf8)])
        nullTable = 0
        root = add(schema, name: nil)
    }

    private func add(_ s: JSONSchema, name: String?) -> Int32 {
        let index = Int32(nodes.count)
        nodes.append(Node(kind: .literal, nullable: s.nullable))
        var n = nodes[Int(index)]
        switch s.kind {
        case .string(let m):
            n.kind = .string
            n.maxLength = Int32(m ?? limits.defaultMaxStringLength)
            n.span = spans != nil && s.isSpan(named: name, policy: policy)
        case .number: n.kind = .number
        case .integer: n.kind = .integer
        case .boolean, .enumeration:
            var texts: [[UInt8]]
            if case .enumeration(let vs) = s.kind { texts = vs.map { Array($0.description.utf8) } }
            else { texts = [Array("true".utf8), Array("false".utf8)] }
            if s.nullable && !texts.contains(Array("null".utf8)) { texts.append(Array("null".utf8)) }
            n.kind = .literal
            n.table = Int32(tables.count)
            tables.append(texts)
        case .array(let items, let m):
            n.kind = .array
            n.maxItems = Int32(m ?? limits.defaultMaxItems)
            n.item = add(items, name: name)
        case .object(let props):
            n.kind = .object
            n.table = Int32(tables.count)
            tables.append(props.map { p in var s = ""; JSONValue.writeString(p.name, to: &s); return Array(s.utf8) })
            for (i, p) in props.enumerated() {
                n.properties.append(add(p.schema, name: p.name))
                if p.required { n.requiredMask |= 1 << UInt64(i) }
            }
        case .any:
            n.kind = .anyValue
            n.nullable = false   // null is one of its literals
            addFreeNodes()
        case .anyObject:
            n.kind = .anyObject
            addFreeNodes()
        }
        nodes[Int(index)] = n
        return index
    }

    /// The shared nodes of free-form values (once per schema).
    private func addFreeNodes() {
        guard freeValue < 0 else { return }
        func node(_ n: Node) -> Int32 { nodes.append(n); return Int32(nodes.count - 1) }
        freeValue = node(Node(kind: .anyValue, nullable: false))
        freeObject = node(Node(kind: .anyObject, nullable: false))
        freeArray = node(Node(kind: .array, nullable: false, maxItems: Int32(limits.defaultMaxItems), item: freeValue))
        freeString = node(Node(kind: .string, nullable: false, maxLength: Int32(limits.defaultMaxStringLength)))
        freeKey = node(Node(kind: .string, nullable: false, maxLength: 64))
        freeNumber = node(Node(kind: .number, nullable: false))
        freeLiterals = Int32(tables.count)
        tables.append([Array("true".utf8), Array("false".utf8), Array("null".utf8)])
    }
}

/// The incremental validator. A value type: copy it to explore alternatives (the top frame is inline, the
/// rest of the stack is a copy-on-write array touched only when nesting changes).
public struct JSONConstraint: Sendable {
    enum FrameKind: UInt8 { case document, string, number, literal, array, object, freeObject }

    /// Deepest nesting of free-form objects and arrays (so a free value always closes).
    static let maxFreeDepth = 8

    struct Frame {
        var kind: FrameKind
        var phase: UInt8 = 0
        var node: Int32
        var table: Int32 = -1      // literal: table; object: chosen property while its value is pending
        var pos: Int32 = 0         // literal: bytes matched; string: code points; number: integer digits; object key: bytes matched
        var count: Int32 = 0       // array: items; object: next property index; number: fraction digits
        var cands: UInt64 = 0      // literal / object key: candidate set
        var u8rem: UInt8 = 0, u8lo: UInt8 = 0x80, u8hi: UInt8 = 0xBF
        var escape = false
        var lastSpace = false      // span string: the last character was whitespace
        var sa: Int32 = 0          // span string: state in the source's SpanIndex
    }

    let schema: CompiledSchema
    var top: Frame
    var rest: [Frame] = []
    /// Bytes accepted so far.
    public private(set) var byteCount = 0

    /// A validator at the start of a document for `schema`.
    /// - Parameters:
    ///   - source: the input text; with it, the string fields `spans` selects accept only spans of it
    ///     (``JSONSchema/isSpan(named:policy:)``). Nil: no string is constrained to the input.
    public init(schema: JSONSchema, limits: JSONConstraintLimits = JSONConstraintLimits(), source: String? = nil,
                spans: SpanPolicy = .auto) {
        self.init(compiled: CompiledSchema(schema, limits: limits, spans: source.map { SpanIndex($0) }, policy: spans))
    }

    /// A validator over an already indexed source text (reuse one ``SpanIndex`` for several documents).
    public init(schema: JSONSchema, limits: JSONConstraintLimits = JSONConstraintLimits(), spanIndex: SpanIndex, spans: SpanPolicy = .auto) {
        self.init(compiled: CompiledSchema(schema, limits: limits, spans: spanIndex, policy: spans))
    }

    init(compiled: CompiledSchema) {
        self.schema = compiled
        self.top = Frame(kind: .document, node: compiled.root)
    }

    /// True once a whole document has been accepted (no further byte is valid).
    public var isComplete: Bool { top.kind == .document && top.phase == 1 }

    /// True where an object property's value starts (after its `:`) and that value is a nullable span string:
    /// the point where `extract` weighs `null` against copying a span.
    public var atNullableSpanValue: Bool {
        guard top.kind == .object, top.phase == 3 || top.phase == 4, top.table >= 0 else { return false }
        let n = schema.nodes[Int(top.node)]
        let value = schema.nodes[Int(n.properties[Int(top.table)])]
        return value.kind == .string && value.span && value.nullable
    }

    /// Feeds `bytes`; returns false (and leaves the state unspecified) when they do not keep a valid prefix.
    @inline(__always)
    public mutating func advance<S: Sequence>(_ bytes: S) -> Bool where S.Element == UInt8 {
        for b in bytes where !advance(b) { return false }
        return true
    }

    /// Feeds one byte; returns whether the output is still a valid prefix. - Complexity: O(1) amortised
    /// (O(candidates) inside keys and enum literals).
    public mutating func advance(_ b: UInt8) -> Bool {
        while true {
            switch top.kind {
            case .document:
                guard top.phase == 0 else { return false }
                top.phase = 1
                return start(schema.root, b)
            case .string:
                return stringByte(b)
            case .number:
                switch numberByte(b) {
                case 1: byteCount += 1; return true
                case 0: return false
                default: pop(); continue   // number complete: the byte belongs to the parent
                }
            case .literal:
                let t = schema.tables[Int(top.table)]
                let pos = Int(top.pos)
                var next: UInt64 = 0, done = false
                var c = top.cands
                while c != 0 {
                    let i = c.trailingZeroBitCount; c &= c - 1
                    if t[i].count > pos { if t[i][pos] == b { next |= 1 << UInt64(i) } } else { done = true }
                }
                if next != 0 { top.cands = next; top.pos += 1; byteCount += 1; return true }
                guard done else { return false }
                pop(); continue
            case .array:
                return arrayByte(b)
            case .object:
                return objectByte(b)
            case .freeObject:
                return freeObjectByte(b)
            }
        }
    }

    // MARK: - Frames

    private mutating func push(_ f: Frame) { rest.append(top); top = f }
    private mutating func pop() { top = rest.removeLast() }

    /// Starts a value of `node` with its first byte (pushing a frame unless the value is done already).
    private mutating func start(_ nodeIndex: Int32, _ b: UInt8) -> Bool {
        let n = schema.nodes[Int(nodeIndex)]
        switch n.kind {
        case .literal:
            return startLiteral(n.table, nodeIndex, b)
        default:
            if n.nullable && b == UInt8(ascii: "n") { return startLiteral(schema.nullTable, nodeIndex, b) }
        }
        switch n.kind {
        case .string:
            guard b == UInt8(ascii: "\"") else { return false }
            push(Frame(kind: .string, node: nodeIndex))
        case .number, .integer:
            var f = Frame(kind: .number, node: nodeIndex)
            switch b {
            case UInt8(ascii: "-"): f.phase = 1
            case UInt8(ascii: "0"): f.phase = 2
            case UInt8(ascii: "1")...UInt8(ascii: "9"): f.phase = 3; f.pos = 1
            default: return false
            }
            push(f)
        case .array:
            guard b == UInt8(ascii: "[") else { return false }
            push(Frame(kind: .array, node: nodeIndex))
        case .object:
            guard b == UInt8(ascii: "{") else { return false }
            push(Frame(kind: .object, node: nodeIndex))
        case .literal:
            return false
        case .anyObject:
            guard b == UInt8(ascii: "{"), rest.count < Self.maxFreeDepth else { return false }
            push(Frame(kind: .freeObject, node: nodeIndex))
        case .anyValue:
            switch b {
            case UInt8(ascii: "{"): return start(schema.freeObject, b)
            case UInt8(ascii: "["):
                guard rest.count < Self.maxFreeDepth else { return false }
                return start(schema.freeArray, b)
            case UInt8(ascii: "\""): return start(schema.freeString, b)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return start(schema.freeNumber, b)
            default: return startLiteral(schema.freeLiterals, nodeIndex, b)
            }
        }
        byteCount += 1
        return true
    }

    /// A free-form object: `{`, then `"key": value` pairs (one optional space after `:` and `,`), `}`.
    /// Phases: 0 after `{`; 1 after a key; 2 after `:`; 3 after `: `; 4 after a value; 5 after `,`; 6 after `, `.
    private mutating func freeObjectByte(_ b: UInt8) -> Bool {
        switch top.phase {
        case 0, 5, 6:
            if top.phase == 0 && b == UInt8(ascii: "}") { pop(); byteCount += 1; return true }
            if top.phase == 5 && b == UInt8(ascii: " ") { top.phase = 6; byteCount += 1; return true }
            guard b == UInt8(ascii: "\""), top.count < CompiledSchema.maxFreeProperties else { return false }
            top.phase = 1; top.count += 1
            return start(schema.freeKey, b)
        case 1:
            guard b == UInt8(ascii: ":") else { return false }
            top.phase = 2; byteCount += 1; return true
        case 2, 3:
            if top.phase == 2 && b == UInt8(ascii: " ") { top.phase = 3; byteCount += 1; return true }
            top.phase = 4
            return start(schema.freeValue, b)
        default:  // 4: after a value
            if b == UInt8(ascii: "}") { pop(); byteCount += 1; return true }
            if b == UInt8(ascii: ","), top.count < CompiledSchema.maxFreeProperties { top.phase = 5; byteCount += 1; return true }
            return false
        }
    }

    private mutating func startLiteral(_ table: Int32, _ node: Int32, _ b: UInt8) -> Bool {
        let t = schema.tables[Int(table)]
        var cands: UInt64 = 0
        for (i, s) in t.enumerated() where s.first == b { cands |= 1 << UInt64(i) }
        guard cands != 0 else { return false }
        var f = Frame(kind: .literal, node: node)
        f.table = table; f.pos = 1; f.cands = cands
        push(f)
        byteCount += 1
        return true
    }

    private mutating func stringByte(_ b: UInt8) -> Bool {
        let node = schema.nodes[Int(top.node)]
        if node.span { return spanStringByte(b, maxLength: node.maxLength) }
        let maxLength = node.maxLength
        if top.u8rem > 0 {
            guard b >= top.u8lo && b <= top.u8hi else { return false }
            top.u8rem -= 1; top.u8lo = 0x80; top.u8hi = 0xBF
            byteCount += 1
            return true
        }
        if top.escape {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                top.escape = false; top.pos += 1; byteCount += 1
                return true
            default: return false
            }
        }
        if b == UInt8(ascii: "\"") { pop(); byteCount += 1; return true }
        guard b >= 0x20, top.pos < maxLength else { return false }
        switch b {
        case UInt8(ascii: "\\"): top.escape = true; byteCount += 1; return true
        case 0x20..<0x80: break
        default:
            guard Self.startUTF8(b, &top) else { return false }
        }
        top.pos += 1
        byteCount += 1
        return true
    }

    /// Sets up the continuation bytes of UTF-8 lead byte `b` (false for a byte that cannot lead).
    @inline(__always)
    private static func startUTF8(_ b: UInt8, _ f: inout Frame) -> Bool {
        switch b {
        case 0xC2...0xDF: f.u8rem = 1
        case 0xE0: f.u8rem = 2; f.u8lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: f.u8rem = 2
        case 0xED: f.u8rem = 2; f.u8hi = 0x9F
        case 0xF0: f.u8rem = 3; f.u8lo = 0x90
        case 0xF1...0xF3: f.u8rem = 3
        case 0xF4: f.u8rem = 3; f.u8hi = 0x8F
        default: return false
        }
        return true
    }

    /// The span-index state after the decoded character byte `d` starts or continues the span, or -1 when the
    /// span rules refuse it: it must continue a substring of the source, must not start with whitespace, and
    /// whitespace needs room for a following character that the source has (so a span never ends in whitespace).
    @inline(__always)
    private func spanStep(_ d: UInt8, maxLength: Int32) -> Int32 {
        guard let idx = schema.spans, top.pos < maxLength else { return -1 }
        let t = idx.next(top.sa, d)
        guard t >= 0 else { return -1 }
        if SpanIndex.isSpace(d) {
            guard top.pos > 0, top.pos + 2 <= maxLength, idx.hasNonSpaceNext[Int(t)] else { return -1 }
        }
        return t
    }

    /// `stringByte` for a span string: the same JSON rules, and the decoded characters walk the source's
    /// ``SpanIndex``.
    private mutating func spanStringByte(_ b: UInt8, maxLength: Int32) -> Bool {
        guard let idx = schema.spans else { return false }
        if top.u8rem > 0 {
            guard b >= top.u8lo && b <= top.u8hi else { return false }
            let t = idx.next(top.sa, b)
            guard t >= 0 else { return false }
            top.sa = t
            top.u8rem -= 1; top.u8lo = 0x80; top.u8hi = 0xBF
            byteCount += 1
            return true
        }
        if top.escape {
            guard let d = SpanIndex.unescaped(b) else { return false }
            let t = spanStep(d, maxLength: maxLength)
            guard t >= 0 else { return false }
            top.sa = t; top.lastSpace = SpanIndex.isSpace(d)
            top.escape = false; top.pos += 1; byteCount += 1
            return true
        }
        if b == UInt8(ascii: "\"") {
            guard top.pos > 0 ? !top.lastSpace : !idx.canStart else { return false }
            pop(); byteCount += 1; return true
        }
        if b == UInt8(ascii: "\\") {
            guard SpanIndex.escapes.contains(where: { spanStep(SpanIndex.unescaped($0)!, maxLength: maxLength) >= 0 }) else { return false }
            top.escape = true; byteCount += 1; return true
        }
        guard b >= 0x20 else { return false }
        let t = spanStep(b, maxLength: maxLength)
        guard t >= 0 else { return false }
        if b >= 0x80 { guard Self.startUTF8(b, &top) else { return false } }
        top.sa = t; top.lastSpace = SpanIndex.isSpace(b)
        top.pos += 1
        byteCount += 1
        return true
    }

    /// 1: consumed, 0: invalid, -1: the number is complete and `b` belongs to the parent.
    private mutating func numberByte(_ b: UInt8) -> Int {
        let isDigit = b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
        let integer = schema.nodes[Int(top.node)].kind == .integer
        let limits = schema.limits
        switch top.phase {
        case 1:  // after '-'
            if b == UInt8(ascii: "0") { top.phase = 2; return 1 }
            if isDigit { top.phase = 3; top.pos = 1; return 1 }
            return 0
        case 2, 3:  // integer part complete
            if isDigit { guard top.phase == 3, top.pos < limits.maxIntegerDigits else { return 0 }; top.pos += 1; return 1 }
            if b == UInt8(ascii: ".") { guard !integer else { return 0 }; top.phase = 4; return 1 }
            return -1
        case 4:  // after '.'
            if isDigit { top.phase = 5; top.count = 1; return 1 }
            return 0
        default:  // 5: fraction digits
            if isDigit { guard top.count < limits.maxFractionDigits else { return 0 }; top.count += 1; return 1 }
            return -1
        }
    }

    private mutating func arrayByte(_ b: UInt8) -> Bool {
        let n = schema.nodes[Int(top.node)]
        switch top.phase {
        case 0, 2, 3:  // a value may start (phase 0 also allows ']', phase 2 one space)
            if top.phase == 0 && b == UInt8(ascii: "]") { pop(); byteCount += 1; return true }
            if top.phase == 2 && b == UInt8(ascii: " ") { top.phase = 3; byteCount += 1; return true }
            guard top.count < n.maxItems else { return false }
            top.phase = 1; top.count += 1
            return start(n.item, b)
        default:  // 1: after a value
            if b == UInt8(ascii: "]") { pop(); byteCount += 1; return true }
            if b == UInt8(ascii: ","), top.count < n.maxItems { top.phase = 2; byteCount += 1; return true }
            return false
        }
    }

    /// Properties that may come next: from `count` up to and including the first required one.
    @inline(__always)
    private func keyCandidates(_ n: CompiledSchema.Node, from next: Int32) -> UInt64 {
        let total = n.properties.count
        guard Int(next) < total else { return 0 }
        let all: UInt64 = total == 64 ? ~0 : (1 << UInt64(total)) - 1
        var mask = all & ~((1 << UInt64(next)) - 1)
        let req = n.requiredMask & mask
        if req != 0 { let first = req.trailingZeroBitCount; mask &= first == 63 ? ~0 : (1 << UInt64(first + 1)) - 1 }
        return mask
    }

    @inline(__always)
    private func requiredRemain(_ n: CompiledSchema.Node, from next: Int32) -> Bool {
        guard Int(next) < 64 else { return false }
        return n.requiredMask >> UInt64(next) != 0
    }

    private mutating func objectByte(_ b: UInt8) -> Bool {
        let n = schema.nodes[Int(top.node)]
        switch top.phase {
        case 0, 6, 7:  // expecting a key (phase 0 also '}', phase 6 one space)
            if top.phase == 0 && b == UInt8(ascii: "}") {
                guard !requiredRemain(n, from: top.count) else { return false }
                pop(); byteCount += 1; return true
            }
            if top.phase == 6 && b == UInt8(ascii: " ") { top.phase = 7; byteCount += 1; return true }
            guard b == UInt8(ascii: "\"") else { return false }
            let c = keyCandidates(n, from: top.count)
            guard c != 0 else { return false }
            top.cands = c; top.pos = 1; top.phase = 1
            byteCount += 1
            return true
        case 1:  // inside a key
            let keys = schema.tables[Int(n.table)]
            let pos = Int(top.pos)
            var next: UInt64 = 0
            var c = top.cands
            while c != 0 {
                let i = c.trailingZeroBitCount; c &= c - 1
                if keys[i].count > pos && keys[i][pos] == b { next |= 1 << UInt64(i) }
            }
            guard next != 0 else { return false }
            top.cands = next; top.pos += 1
            // A quote ends the key only when it is a candidate's last byte (a key may hold an escaped `\"`);
            // the candidates share these bytes, so at most one (distinct keys) ends here.
            if b == UInt8(ascii: "\"") {
                var c2 = next
                while c2 != 0 {
                    let i = c2.trailingZeroBitCount; c2 &= c2 - 1
                    if keys[i].count == pos + 1 {
                        let j = Int32(i)
                        top.cands = 1 << UInt64(i); top.table = j; top.count = j + 1; top.phase = 2
                        break
                    }
                }
            }
            byteCount += 1
            return true
        case 2:
            guard b == UInt8(ascii: ":") else { return false }
            top.phase = 3; byteCount += 1; return true
        case 3, 4:
            if top.phase == 3 && b == UInt8(ascii: " ") { top.phase = 4; byteCount += 1; return true }
            top.phase = 5
            return start(n.properties[Int(top.table)], b)
        default:  // 5: after a value
            if b == UInt8(ascii: "}") {
                guard !requiredRemain(n, from: top.count) else { return false }
                pop(); byteCount += 1; return true
            }
            if b == UInt8(ascii: ","), keyCandidates(n, from: top.count) != 0 { top.phase = 6; byteCount += 1; return true }
            return false
        }
    }

    // MARK: - Completion

    /// The shortest bytes that complete the document from here (empty when complete). Used to close the
    /// output when the token budget runs out. - Complexity: O(depth + required properties · schema depth).
    public func completion() -> [UInt8] {
        var s = self
        var out: [UInt8] = []
        while let b = s.forcedByte() {
            let ok = s.advance(b)
            precondition(ok, "JSONConstraint.completion: forced byte rejected")
            out.append(b)
        }
        return out
    }

    /// The first byte of the shortest valid value for `node`.
    private func minimalStart(_ nodeIndex: Int32) -> UInt8 {
        let n = schema.nodes[Int(nodeIndex)]
        switch n.kind {
        case .literal:
            let t = schema.tables[Int(n.table)]
            return t.min { $0.count < $1.count }![0]
        case .string: return UInt8(ascii: "\"")
        case .number, .integer: return UInt8(ascii: "0")
        case .array: return UInt8(ascii: "[")
        case .object, .anyObject: return UInt8(ascii: "{")
        case .anyValue: return UInt8(ascii: "n")
        }
    }

    /// The shortest way on in a span string: close it when allowed, else the first character the source
    /// offers (escaped when it must be).
    private func spanForcedByte(_ f: Frame, _ idx: SpanIndex, maxLength: Int32) -> UInt8 {
        var probe = self
        probe.top = f
        if f.u8rem > 0 {
            for b in f.u8lo...f.u8hi where idx.next(f.sa, b) >= 0 { return b }
        }
        if f.escape {
            for e in SpanIndex.escapes where probe.spanStep(SpanIndex.unescaped(e)!, maxLength: maxLength) >= 0 { return e }
        }
        if f.pos > 0 ? !f.lastSpace : !idx.canStart { return UInt8(ascii: "\"") }
        for (b, _) in idx.transitions(f.sa) where !SpanIndex.isSpace(b) && SpanIndex.representable(b) && !(0x80...0xC1).contains(b) && b < 0xF5 {
            if probe.spanStep(b, maxLength: maxLength) < 0 { continue }
            return b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") ? UInt8(ascii: "\\") : b
        }
        return UInt8(ascii: "\"")   // unreachable: the rules keep a way on
    }

    private func forcedByte() -> UInt8? {
        var frames = rest
        frames.append(top)
        var i = frames.count - 1
        while i >= 0 {
            let f = frames[i]
            let n = schema.nodes[Int(f.node)]
            switch f.kind {
            case .document:
                return f.phase == 0 ? minimalStart(f.node) : nil
            case .string:
                if n.span, let idx = schema.spans { return spanForcedByte(f, idx, maxLength: n.maxLength) }
                if f.u8rem > 0 { return f.u8lo }
                return f.escape ? UInt8(ascii: "n") : UInt8(ascii: "\"")
            case .number:
                if f.phase == 1 || f.phase == 4 { return UInt8(ascii: "0") }
                i -= 1; continue   // complete: the parent decides
            case .literal:
                let t = schema.tables[Int(f.table)]
                var best = -1
                var c = f.cands
                while c != 0 {
                    let k = c.trailingZeroBitCount; c &= c - 1
                    if best < 0 || t[k].count < t[best].count { best = k }
                }
                if t[best].count == Int(f.pos) { i -= 1; continue }
                return t[best][Int(f.pos)]
            case .array:
                switch f.phase {
                case 0, 1: return UInt8(ascii: "]")
                default: return minimalStart(n.item)
                }
            case .object:
                switch f.phase {
                case 0: return requiredRemain(n, from: f.count) ? UInt8(ascii: "\"") : UInt8(ascii: "}")
                case 1:
                    // Prefer the required candidate (the highest bit) so the object can close afterwards.
                    let k = 63 - f.cands.leadingZeroBitCount
                    return schema.tables[Int(n.table)][k][Int(f.pos)]
                case 2: return UInt8(ascii: ":")
                case 3, 4: return minimalStart(n.properties[Int(f.table)])
                case 5: return requiredRemain(n, from: f.count) ? UInt8(ascii: ",") : UInt8(ascii: "}")
                default: return UInt8(ascii: "\"")
                }
            case .freeObject:
                switch f.phase {
                case 0, 4: return UInt8(ascii: "}")
                case 1: return UInt8(ascii: ":")
                case 2, 3: return minimalStart(schema.freeValue)
                default: return UInt8(ascii: "\"")
                }
            }
        }
        return nil
    }
}
