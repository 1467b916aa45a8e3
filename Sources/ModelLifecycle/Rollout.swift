// Staged rollout: channel files and the deterministic device bucket.

import Crypto
import EdgeLMEssentials

/// Rollout stages with their default percentages.
public enum RolloutStage: String, Codable, CaseIterable, Sendable {
    case canary, tenPercent = "10%", fiftyPercent = "50%", full = "100%"

    /// The share of devices (0...100) that get a release at this stage.
    public var percentage: Double {
        switch self {
        case .canary: 1
        case .tenPercent: 10
        case .fiftyPercent: 50
        case .full: 100
        }
    }
}

/// One release in a channel.
public struct ChannelRelease: Codable, Sendable, Equatable {
    public var version: SemVer
    public var stage: RolloutStage
    /// Overrides the stage's percentage when set (0...100).
    public var percentage: Double?
    /// Where the signed manifest is (URL, or a path relative to the channel file).
    public var manifest: String?
    /// Where the GGUF file is (URL, or a path relative to the channel file); default: the manifest's `url`.
    public var model: String?

    public init(version: SemVer, stage: RolloutStage, percentage: Double? = nil, manifest: String? = nil,
                model: String? = nil) {
        self.version = version; self.stage = stage; self.percentage = percentage; self.manifest = manifest
        self.model = model
    }

    /// The effective percentage.
    public var effectivePercentage: Double { percentage ?? stage.percentage }
}

/// A channel file: the releases of one model id with their rollout stages (JSON, docs/lifecycle.md).
public struct RolloutChannel: Codable, Sendable, Equatable {
    public var channel: String
    public var modelID: String
    public var releases: [ChannelRelease]

    public init(channel: String, modelID: String, releases: [ChannelRelease]) {
        self.channel = channel; self.modelID = modelID; self.releases = releases
    }

    /// Decodes and validates a channel file.
    /// - Throws: ``LifecycleError/invalidChannel(_:)``.
    public static func decode(_ data: Data) throws -> RolloutChannel {
        let c: RolloutChannel
        do { c = try JSONDecoder().decode(RolloutChannel.self, from: data) } catch {
            throw LifecycleError.invalidChannel("\(error)")
        }
        guard ModelManifest.isValidID(c.modelID) else { throw LifecycleError.invalidChannel("modelID '\(c.modelID)'") }
        for r in c.releases {
            guard (0...100).contains(r.effectivePercentage) else {
                throw LifecycleError.invalidChannel("percentage \(r.effectivePercentage) of \(r.version) is outside 0...100")
            }
        }
        return c
    }

    /// The device's bucket for (`deviceID`, model id, `version`) in [0, 100): SHA-256 of
    /// `"deviceID|modelID|version"`, first 8 bytes as a big-endian UInt64, scaled to [0, 100).
    /// Uniform across devices; the same inputs always give the same bucket.
    public static func bucket(deviceID: String, modelID: String, version: SemVer) -> Double {
        let digest = SHA256.hash(data: Data("\(deviceID)|\(modelID)|\(version)".utf8))
        var x: UInt64 = 0
        for b in digest.prefix(8) { x = x << 8 | UInt64(b) }
        return Double(x >> 11) / Double(1 << 53) * 100  // 53 bits: exact in a Double, < 100
    }

    /// Whether `deviceID` is in the rollout of `release`: `bucket < percentage`. Raising the percentage only
    /// adds devices, because the bucket does not depend on it.
    public func includes(deviceID: String, _ release: ChannelRelease) -> Bool {
        Self.bucket(deviceID: deviceID, modelID: modelID, version: release.version) < release.effectivePercentage
    }

    /// The newest release this device is in, skipping `excluded` versions (e.g. rejected ones); nil if none.
    public func target(deviceID: String, excluding excluded: Set<SemVer> = []) -> ChannelRelease? {
        releases.filter { !excluded.contains($0.version) && includes(deviceID: deviceID, $0) }
            .max { $0.version < $1.version }
    }
}

/// Where one device stands in a channel (``RolloutChannel/status(deviceID:excluding:)``).
public struct RolloutStatus: Sendable, Equatable {
    /// One release as this device sees it.
    public struct Entry: Sendable, Equatable {
        public var release: ChannelRelease
        /// The device's bucket in [0, 100) for this release.
        public var bucket: Double
        /// `bucket < percentage`.
        public var included: Bool
        /// Rejected on this device by an automatic rollback (never re-installed by rollout).
        public var rejected: Bool
    }
    public var entries: [Entry]
    /// The newest release this device is in (not rejected), or nil.
    public var target: ChannelRelease?
}

extension RolloutChannel {
    /// Reads and validates a channel file.
    /// - Throws: ``LifecycleError/io(operation:path:errno:)`` when unreadable, ``LifecycleError/invalidChannel(_:)``.
    public static func load(from path: String) throws -> RolloutChannel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LifecycleError.io(operation: "read channel", path: path, errno: ENOENT)
        }
        return try decode(data)
    }

    /// Every release (oldest version first) with this device's bucket and whether it is in.
    public func status(deviceID: String, excluding rejected: Set<SemVer> = []) -> RolloutStatus {
        let entries = releases.sorted { $0.version < $1.version }.map { r in
            let b = Self.bucket(deviceID: deviceID, modelID: modelID, version: r.version)
            return RolloutStatus.Entry(release: r, bucket: b, included: b < r.effectivePercentage,
                                       rejected: rejected.contains(r.version))
        }
        return RolloutStatus(entries: entries, target: target(deviceID: deviceID, excluding: rejected))
    }

    /// Resolves a release's `manifest` or `model` reference: URLs stay, relative paths are taken relative
    /// to the directory of the channel file at `channelPath`.
    public static func resolve(_ reference: String, relativeTo channelPath: String) -> String {
        if let u = URL(string: reference), let scheme = u.scheme, ["http", "https", "file"].contains(scheme.lowercased()) {
            return reference
        }
        if reference.hasPrefix("/") { return reference }
        return URL(fileURLWithPath: channelPath).deletingLastPathComponent().appendingPathComponent(reference).path
    }
}

extension ModelStore {
    /// Versions of `modelID` rejected on this device by automatic rollback.
    public func rejectedVersions(of channel: RolloutChannel) -> Set<SemVer> {
        let monitor = HealthMonitor(store: self)
        return Set(channel.releases.map(\.version).filter { monitor.isRejected("\(channel.modelID)@\($0)") })
    }
}

/// The outcome of one update check.
public enum UpdateOutcome: Sendable, Equatable {
    /// No channel available (offline): the active model stays.
    case offlineKeptActive(String?)
    /// The device is not in any newer release's rollout (or already runs the target).
    case upToDate(String?)
    /// Installed and activated `key`.
    case updated(from: String?, to: String)
    /// The target could not be fetched or verified: the active model stays; `reason` names the cause.
    case keptActive(String?, reason: String)
}

extension ModelStore {
    /// One update check against a channel.
    ///
    /// - Parameters:
    ///   - channel: the channel file, nil when offline.
    ///   - fetch: gets the signed manifest bytes and the model source for a release (may throw, e.g. offline).
    /// - Returns: what happened; never throws for fetch or verification failures (the old model stays active).
    public func update(deviceID: String, channel: RolloutChannel?, publicKey: Curve25519.Signing.PublicKey,
                       fetch: (ChannelRelease) throws -> (manifest: Data, source: ModelSource)) -> UpdateOutcome {
        let current = active
        guard let channel else { return .offlineKeptActive(current) }
        let monitor = HealthMonitor(store: self)
        let rejected = Set(channel.releases.map(\.version).filter { monitor.isRejected("\(channel.modelID)@\($0)") })
        guard let target = channel.target(deviceID: deviceID, excluding: rejected) else { return .upToDate(current) }
        let key = "\(channel.modelID)@\(target.version)"
        if key == current { return .upToDate(current) }
        if let current, current.hasPrefix(channel.modelID + "@"),
            let v = try? SemVer(parsing: String(current.dropFirst(channel.modelID.count + 1))), v >= target.version
        {
            return .upToDate(current)
        }
        do {
            let (data, source) = try fetch(target)
            let claimed = try ModelManifest.decode(data)
            guard claimed.key == key else {
                return .keptActive(current, reason: "manifest is \(claimed.key), channel promised \(key)")
            }
            try install(manifestData: data, publicKey: publicKey, source: source)
            return .updated(from: current, to: key)
        } catch {
            return .keptActive(current, reason: "\(error)")
        }
    }
}
