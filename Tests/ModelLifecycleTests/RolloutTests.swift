import Crypto
import Foundation
@testable import ModelLifecycle
import Testing

@Suite("Rollout")
struct RolloutTests {
    static let devices = (0..<10_000).map { "device-\($0)" }

    @Test("the bucket is deterministic and in [0, 100)")
    func deterministic() {
        for d in Self.devices.prefix(500) {
            let a = RolloutChannel.bucket(deviceID: d, modelID: "m", version: SemVer(1, 0, 0))
            #expect(a == RolloutChannel.bucket(deviceID: d, modelID: "m", version: SemVer(1, 0, 0)))
            #expect(a >= 0 && a < 100)
        }
        // Independent of version: a device in the 10% of 1.0.0 is not systematically in the 10% of 1.1.0.
        let v1 = Set(Self.devices.filter { RolloutChannel.bucket(deviceID: $0, modelID: "m", version: SemVer(1, 0, 0)) < 10 })
        let v2 = Set(Self.devices.filter { RolloutChannel.bucket(deviceID: $0, modelID: "m", version: SemVer(1, 1, 0)) < 10 })
        #expect(Double(v1.intersection(v2).count) / Double(v1.count) < 0.2)
    }

    @Test("fraction of 10,000 devices in the rollout is within ±2% of the target",
          arguments: [1.0, 10, 25, 50, 90, 100])
    func fractions(_ pct: Double) {
        let channel = RolloutChannel(channel: "stable", modelID: "m",
                                     releases: [ChannelRelease(version: SemVer(1, 0, 0), stage: .full, percentage: pct)])
        let n = Self.devices.filter { channel.includes(deviceID: $0, channel.releases[0]) }.count
        #expect(abs(Double(n) / Double(Self.devices.count) * 100 - pct) <= 2, "\(n) devices at \(pct)%")
    }

    @Test("raising the percentage only adds devices (canary → 10% → 50% → 100%)")
    func monotonic() {
        var previous: Set<String> = []
        for stage in RolloutStage.allCases {
            let channel = RolloutChannel(channel: "stable", modelID: "m",
                                         releases: [ChannelRelease(version: SemVer(2, 0, 0), stage: stage)])
            let inSet = Set(Self.devices.filter { channel.includes(deviceID: $0, channel.releases[0]) })
            #expect(previous.isSubset(of: inSet), "\(stage)")
            #expect(inSet.count > previous.count)
            previous = inSet
        }
        #expect(previous.count == Self.devices.count)
    }

    @Test("target: newest release the device is in; excluded versions skipped")
    func target() throws {
        let channel = try RolloutChannel.decode(Data("""
            {"channel":"stable","modelID":"m","releases":[
              {"version":"1.0.0","stage":"100%"},
              {"version":"1.1.0","stage":"50%"},
              {"version":"1.2.0","stage":"canary","percentage":0}]}
            """.utf8))
        var sawNew = false, sawOld = false
        for d in Self.devices.prefix(200) {
            let t = try #require(channel.target(deviceID: d))
            #expect(t.version != SemVer(1, 2, 0))
            if t.version == SemVer(1, 1, 0) { sawNew = true } else { sawOld = true }
            #expect(channel.target(deviceID: d, excluding: [SemVer(1, 1, 0)])?.version == SemVer(1, 0, 0))
        }
        #expect(sawNew && sawOld)
        #expect(throws: LifecycleError.self) {
            try RolloutChannel.decode(Data(#"{"channel":"s","modelID":"m","releases":[{"version":"1.0.0","stage":"100%","percentage":150}]}"#.utf8))
        }
        #expect(throws: LifecycleError.self) { try RolloutChannel.decode(Data("[]".utf8)) }
    }

    @Test("offline keeps the active model; an unverifiable release keeps the old one; a good one installs")
    func update() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        let channel = RolloutChannel(channel: "stable", modelID: "tiny", releases: [
            ChannelRelease(version: SemVer(1, 0, 0), stage: .full), ChannelRelease(version: SemVer(1, 1, 0), stage: .full),
        ])
        let v2 = try Data(contentsOf: URL(fileURLWithPath: f.v2Manifest))

        #expect(store.update(deviceID: "d", channel: nil, publicKey: f.signer.publicKey) { _ in
            Issue.record("fetch while offline"); return (v2, .file(f.v2Model))
        } == .offlineKeptActive("tiny@1.0.0"))

        struct Offline: Error {}
        guard case .keptActive("tiny@1.0.0", _) = store.update(deviceID: "d", channel: channel, publicKey: f.signer.publicKey,
                                                              fetch: { _ in throw Offline() }) else {
            Issue.record("fetch failure did not keep the active model"); return
        }
        let other = Curve25519.Signing.PrivateKey().publicKey
        guard case let .keptActive("tiny@1.0.0", reason) = store.update(deviceID: "d", channel: channel, publicKey: other,
                                                                       fetch: { _ in (v2, .file(f.v2Model)) }) else {
            Issue.record("bad signature did not keep the active model"); return
        }
        #expect(reason.contains("signature"))
        guard case .keptActive("tiny@1.0.0", _) = store.update(deviceID: "d", channel: channel, publicKey: f.signer.publicKey,
                                                              fetch: { _ in (v2, .file(f.v1Model)) }) else {
            Issue.record("checksum failure did not keep the active model"); return
        }
        #expect(store.active == "tiny@1.0.0")
        #expect(store.update(deviceID: "d", channel: channel, publicKey: f.signer.publicKey) { _ in (v2, .file(f.v2Model)) }
                == .updated(from: "tiny@1.0.0", to: "tiny@1.1.0"))
        #expect(store.active == "tiny@1.1.0")
        #expect(store.update(deviceID: "d", channel: channel, publicKey: f.signer.publicKey) { _ in
            Issue.record("fetch when up to date"); return (v2, .file(f.v2Model))
        } == .upToDate("tiny@1.1.0"))
    }
}
