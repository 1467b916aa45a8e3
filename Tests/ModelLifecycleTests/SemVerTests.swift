@testable import ModelLifecycle
import Testing

@Suite("SemVer")
struct SemVerTests {
    @Test("parses and prints", arguments: ["0.1.0", "1.2.3", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha-2.x"])
    func roundTrip(_ s: String) throws {
        #expect(try SemVer(parsing: s).description == s)
    }

    @Test("rejects malformed versions", arguments: ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.-2.3", "a.b.c", "1.2.3-",
                                                     "1.2.3-01", "1.2.3+build", " 1.2.3", "1.2.3-a..b"])
    func rejects(_ s: String) {
        #expect(throws: LifecycleError.invalidVersion(s)) { try SemVer(parsing: s) }
    }

    @Test("orders by semver precedence")
    func ordering() throws {
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                       "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"]
        let parsed = try ordered.map { try SemVer(parsing: $0) }
        for i in 0..<parsed.count {
            for j in 0..<parsed.count {
                #expect((parsed[i] < parsed[j]) == (i < j), "\(ordered[i]) vs \(ordered[j])")
            }
        }
    }
}
