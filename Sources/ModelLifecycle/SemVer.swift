// A small semantic version (semver.org 2.0 precedence, without build metadata).

/// `MAJOR.MINOR.PATCH[-prerelease]`. Comparison follows semver.org: a pre-release sorts before its release,
/// pre-release identifiers compare numerically when both are numeric, else lexically.
public struct SemVer: Comparable, Hashable, Sendable, CustomStringConvertible, Codable {
    public let major: Int
    public let minor: Int
    public let patch: Int
    /// Dot-separated pre-release identifiers (empty for a release).
    public let prerelease: [String]

    public init(_ major: Int, _ minor: Int, _ patch: Int, prerelease: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
    }

    /// Parses `1.2.3` or `1.2.3-rc.1`.
    /// - Throws: ``LifecycleError/invalidVersion(_:)`` for anything else (leading zeros, signs, empty parts,
    ///   build metadata).
    public init(parsing text: String) throws {
        let bad = LifecycleError.invalidVersion(text)
        guard text.count <= 128 else { throw bad }
        let dash = text.firstIndex(of: "-")
        let core = dash.map { String(text[..<$0]) } ?? text
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw bad }
        var nums: [Int] = []
        for p in parts {
            guard Self.isNumericIdentifier(p), let n = Int(p) else { throw bad }
            nums.append(n)
        }
        var pre: [String] = []
        if let dash {
            let rest = text[text.index(after: dash)...]
            let ids = rest.split(separator: ".", omittingEmptySubsequences: false)
            for id in ids {
                guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                    throw bad
                }
                if id.allSatisfy(\.isNumber), id.count > 1, id.first == "0" { throw bad }
                pre.append(String(id))
            }
        }
        self.init(nums[0], nums[1], nums[2], prerelease: pre)
    }

    private static func isNumericIdentifier(_ s: Substring) -> Bool {
        !s.isEmpty && s.count <= 18 && s.allSatisfy { $0.isASCII && $0.isNumber } && !(s.count > 1 && s.first == "0")
    }

    public var description: String {
        "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: "."))
    }

    public static func < (a: SemVer, b: SemVer) -> Bool {
        if a.major != b.major { return a.major < b.major }
        if a.minor != b.minor { return a.minor < b.minor }
        if a.patch != b.patch { return a.patch < b.patch }
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (i?, j?): return i < j
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return x < y
            }
        }
        return a.prerelease.count < b.prerelease.count
    }

    /// Encoded as its string form (`"1.2.3"`).
    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: s)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The version of this engine, checked against a manifest's `[minEngineVersion, maxEngineVersion]`.
public enum EngineVersion {
    /// The running engine's version.
    public static let current = SemVer(0, 1, 0)
}
