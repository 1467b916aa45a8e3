import Foundation
import Testing
import DeviceProfiles

@Suite struct DeviceProfileTests {
    @Test func builtInsMatchTheDocumentedTable() {
        let t = DeviceProfile.builtIns.map { "\($0.name) \($0.memoryCap >> 20) \($0.threads) \($0.contextLength)" }
        #expect(t == ["wearable 64 1 512", "phone-low 256 2 1024", "phone 1024 4 4096", "laptop 4096 8 8192", "edge-server 16384 16 8192"])
        #expect(DeviceProfile.wearable.residency == .streamed)
        #expect(DeviceProfile.phoneLow.residency == .resident)
    }

    @Test(arguments: DeviceProfile.builtIns)
    func jsonRoundTrip(profile: DeviceProfile) throws {
        #expect(try DeviceProfile.decode(profile.jsonData()) == profile)
    }

    @Test func decodesAUserProfileWithAUnitCap() throws {
        let json = #"{"name": "kiosk", "memory_cap": "96MiB", "threads": 2, "context_length": 1024, "max_output_tokens": 64, "weight_residency": "streamed"}"#
        let p = try DeviceProfile.decode(Data(json.utf8))
        #expect(p == DeviceProfile(name: "kiosk", memoryCap: 96 << 20, threads: 2, contextLength: 1024,
                                   maxOutputTokens: 64, kvType: .f16, residency: .streamed, batch: 64))
    }

    @Test(arguments: [
        (#"{"name": "x", "memory_cap": 1, "context_length": 8, "max_output_tokens": 1}"#, DeviceProfileError.missingField("threads", source: "t")),
        (#"{"name": "x", "memory_cap": 1, "threads": 0, "context_length": 8, "max_output_tokens": 1}"#, .invalidField("threads", reason: "must be in 1…256, got 0", source: "t")),
        (#"{"name": "x", "memory_cap": "12 parsecs", "threads": 1, "context_length": 8, "max_output_tokens": 1}"#, .invalidField("memory_cap", reason: "'12 parsecs' has an unknown unit 'parsecs' (hint: use B, KiB, MiB or GiB)", source: "t")),
    ])
    func reportsTheBadField(json: String, expected: DeviceProfileError) {
        #expect(throws: expected) { try DeviceProfile.decode(Data(json.utf8), source: "t") }
    }

    @Test func badEnumValueNamesTheField() {
        let json = #"{"name": "x", "memory_cap": 1, "threads": 1, "context_length": 8, "max_output_tokens": 1, "weight_residency": "swapped"}"#
        do {
            _ = try DeviceProfile.decode(Data(json.utf8), source: "t")
            Issue.record("expected an error")
        } catch let DeviceProfileError.invalidField(field, _, _) {
            #expect(field == "weight_residency")
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test func notJSON() {
        do {
            _ = try DeviceProfile.decode(Data("{name: ".utf8), source: "t")
            Issue.record("expected an error")
        } catch let e as DeviceProfileError {
            guard case .invalidJSON = e else { Issue.record("got \(e)"); return }
            #expect(e.description.contains("hint:"))
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test func resolveNamesFilesAndUnknowns() throws {
        #expect(try DeviceProfile.resolve("phone") == .phone)
        #expect(throws: DeviceProfileError.unknownProfile("watch", available: DeviceProfile.builtIns.map(\.name))) {
            try DeviceProfile.resolve("watch")
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID()).json")
        try DeviceProfile.laptop.jsonData().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try DeviceProfile.resolve(url.path) == .laptop)
        #expect(throws: DeviceProfileError.self) { try DeviceProfile.resolve("/nonexistent/p.json") }
    }

    @Test(arguments: [("123", 123), ("64MiB", 64 << 20), ("1.5 GiB", 3 << 29), ("512k", 512 << 10), ("2G", 2 << 30), ("7b", 7)])
    func parsesByteCounts(text: String, bytes: Int) throws {
        #expect(try ByteCount.parse(text) == bytes)
    }

    @Test(arguments: ["", "MiB", "-5", "0", "12XB", "1e3", "99999999999GiB"])
    func rejectsBadByteCounts(text: String) {
        #expect(throws: ByteCountError.self) { try ByteCount.parse(text) }
    }
}
