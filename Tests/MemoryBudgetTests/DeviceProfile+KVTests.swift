import Foundation
import Testing
import DeviceProfiles

@Suite struct DeviceProfileKVTests {
    @Test(arguments: [("refuse", KVCachePolicy.refuse), ("sliding-window", .slidingWindow(sinks: 4)),
                      ("sliding_window:2", .slidingWindow(sinks: 2)), ("context-shift", .contextShift(keep: 4)),
                      ("Context-Shift:0", .contextShift(keep: 0))])
    func parsesPolicies(text: String, expected: KVCachePolicy) throws {
        #expect(try KVCachePolicy(parsing: text) == expected)
        #expect(try KVCachePolicy(parsing: expected.description) == expected)
    }

    @Test(arguments: ["lru", "refuse:3", "sliding-window:-1", "context-shift:x", ""])
    func rejectsBadPolicies(text: String) {
        #expect(throws: DeviceProfileError.self) { try KVCachePolicy(parsing: text) }
    }

    @Test func userProfileCarriesKVTypePolicyAndSessions() throws {
        let json = #"{"name": "k", "memory_cap": "96MiB", "threads": 2, "context_length": 1024, "max_output_tokens": 64, "kv_type": "q8_0", "kv_policy": "sliding-window:8", "concurrent_sessions": 3}"#
        let p = try DeviceProfile.decode(Data(json.utf8))
        #expect(p.kvType == .q8_0 && p.kvPolicy == .slidingWindow(sinks: 8) && p.concurrentSessions == 3)
        #expect(try DeviceProfile.decode(p.jsonData()) == p)
        // Defaults when absent.
        let plain = try DeviceProfile.decode(Data(#"{"name": "k", "memory_cap": 1, "threads": 1, "context_length": 8, "max_output_tokens": 1}"#.utf8))
        #expect(plain.kvType == .f16 && plain.kvPolicy == .refuse && plain.concurrentSessions == 1)
    }

    @Test(arguments: [
        (#""kv_policy": "evict-all""#, "kv_policy"),
        (#""kv_policy": "sliding-window:8""#, "kv_policy"),       // keeps as many tokens as the context holds
        (#""concurrent_sessions": 0"#, "concurrent_sessions"),
        (#""kv_type": "q2_k""#, "kv_type"),
    ])
    func badKVFieldsNameTheField(fragment: String, field: String) {
        let json = #"{"name": "k", "memory_cap": 1, "threads": 1, "context_length": 8, "max_output_tokens": 1, "# + fragment + "}"
        do {
            _ = try DeviceProfile.decode(Data(json.utf8), source: "t")
            Issue.record("expected an error for \(fragment)")
        } catch let DeviceProfileError.invalidField(f, _, _) {
            #expect(f == field)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func builtInPolicies() {
        #expect(DeviceProfile.wearable.kvPolicy == .slidingWindow(sinks: 4))
        #expect(DeviceProfile.builtIns.dropFirst().allSatisfy { $0.kvPolicy == .contextShift(keep: 4) })
        #expect(DeviceProfile.edgeServer.concurrentSessions == 4)
        #expect(DeviceProfile.builtIns.allSatisfy { $0.kvType == .f16 })
    }

    @Test func rowBytesPerType() {
        #expect(KVCacheType.f16.rowBytes(192) == 384)
        #expect(KVCacheType.q8_0.rowBytes(192) == 204)
        #expect(KVCacheType.q4_0.rowBytes(192) == 108)
    }
}
