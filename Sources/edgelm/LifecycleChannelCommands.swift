import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `--device-id`, shared by the rollout commands.
struct DeviceIDOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Stable id of this device for rollout bucketing (default: $EDGELM_DEVICE_ID).",
        discussion: "Only hashed (SHA-256 with the model id and version); never sent anywhere or recorded in telemetry.",
        valueName: "ID"))
    var deviceID: String?

    func resolved() throws -> String {
        if let deviceID, !deviceID.isEmpty { return deviceID }
        if let env = ProcessInfo.processInfo.environment["EDGELM_DEVICE_ID"], !env.isEmpty { return env }
        throw ValidationError("pass --device-id ID (or set EDGELM_DEVICE_ID)")
    }
}

/// Reads a channel file from a path or an HTTP(S) URL.
enum ChannelSource {
    /// The channel's bytes; throws when the file or URL cannot be read (offline).
    static func read(_ location: String) throws -> Data {
        if let url = URL(string: location), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" {
            return try fetch(url)
        }
        guard let data = FileManager.default.contents(atPath: location) else {
            throw LifecycleError.io(operation: "read channel", path: location, errno: ENOENT)
        }
        return data
    }

    /// The bytes of a release's manifest reference (path relative to the channel, or URL).
    static func manifest(_ release: ChannelRelease, channel location: String) throws -> Data {
        guard let ref = release.manifest else {
            throw LifecycleError.noSource("release \(release.version) in the channel has no \"manifest\"")
        }
        let resolved = RolloutChannel.resolve(ref, relativeTo: location)
        if let url = URL(string: resolved), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" {
            return try fetch(url)
        }
        if let url = URL(string: resolved), url.scheme?.lowercased() == "file" {
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw LifecycleError.io(operation: "read manifest", path: url.path, errno: ENOENT)
            }
            return data
        }
        guard let data = FileManager.default.contents(atPath: resolved) else {
            throw LifecycleError.io(operation: "read manifest", path: resolved, errno: ENOENT)
        }
        return data
    }

    /// The body of a `200` answer to a GET of `url` (through `edgelm-http`).
    static func fetch(_ url: URL) throws -> Data {
        let answer: (status: Int, body: [UInt8])
        do { answer = try SubprocessTransport.beside.fetch(HTTPRequest(url: url.absoluteString, timeout: 30, deadline: 120)) } catch {
            throw LifecycleError.download(url: url.absoluteString, reason: "\(error)")
        }
        guard answer.status == 200 else {
            throw LifecycleError.download(url: url.absoluteString, reason: "HTTP \(answer.status)")
        }
        return Data(answer.body)
    }

    /// Where a release's GGUF comes from: its `model` (path relative to the channel, or URL), else the
    /// manifest's `url`.
    static func model(_ release: ChannelRelease, channel location: String) -> ModelSource {
        guard let ref = release.model else { return .manifestURL }
        let resolved = RolloutChannel.resolve(ref, relativeTo: location)
        if let url = URL(string: resolved), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" {
            return .url(url)
        }
        if let url = URL(string: resolved), url.scheme?.lowercased() == "file" { return .file(url.path) }
        return .file(resolved)
    }
}

extension ModelsCommand {
    /// `edgelm models channel show`: where this device stands in a staged rollout.
    struct ChannelCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "channel", abstract: "Inspect a staged-rollout channel file.", subcommands: [Show.self])

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Show, for this device, each release's stage, bucket and whether the device is in; and the version it is eligible for.")
            @Argument(help: ArgumentHelp("The channel file (path or URL).", valueName: "CHANNEL.json"))
            var channel: String
            @OptionGroup var device: DeviceIDOption
            @Option(name: .long, help: ArgumentHelp("Model store (for the active version and rejected versions; default: $EDGELM_STORE, else ~/.edgelm/models).", valueName: "DIR"))
            var store: String?
            @Flag(name: .long, help: "Print JSON.")
            var json = false

            func run() throws {
                let deviceID = try device.resolved()
                let c = try RolloutChannel.decode(try ChannelSource.read(channel))
                let dir = store ?? ModelStore.defaultPath
                let s = FileManager.default.fileExists(atPath: dir) ? try ModelStore(path: dir) : nil
                let status = c.status(deviceID: deviceID, excluding: s?.rejectedVersions(of: c) ?? [])
                let active = s?.active
                if json {
                    try printJSON([
                        "channel": c.channel, "model_id": c.modelID,
                        "active": active as Any? ?? JSONValue.null,
                        "target": status.target.map { "\(c.modelID)@\($0.version)" } as Any? ?? JSONValue.null,
                        "releases": status.entries.map { e -> [String: Any] in
                            ["version": "\(e.release.version)", "stage": e.release.stage.rawValue,
                             "percentage": e.release.effectivePercentage, "bucket": e.bucket,
                             "included": e.included, "rejected": e.rejected]
                        },
                    ] as [String: Any])
                    return
                }
                print("channel \(c.channel), model \(c.modelID)")
                for e in status.entries {
                    let mark = e.rejected ? "rejected here" : (e.included ? "in" : "out")
                    print(String(printf: "  %@  stage %@ (%.4g%%)  bucket %.4f  %@", "\(e.release.version)",
                                 e.release.stage.rawValue, e.release.effectivePercentage, e.bucket, mark))
                }
                if let t = status.target {
                    print("eligible: \(c.modelID)@\(t.version) (stage \(t.stage.rawValue))")
                } else {
                    print("eligible: none (this device is in no release's rollout)")
                }
                if let active { print("active: \(active)") }
            }
        }
    }

    /// `edgelm models update`: install the release this device is eligible for in a channel.
    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install and activate the newest release of a channel this device is in.",
            discussion: """
            Offline (the channel cannot be read): the active model stays (exit 0). A release that cannot be \
            fetched or verified (signature, size, checksum, compatibility): the active model stays, the cause \
            is printed, exit 1. Versions rolled back on this device are never picked again.
            """)
        @Option(name: .long, help: ArgumentHelp("The channel file (path or URL).", valueName: "CHANNEL.json"))
        var channel: String
        @OptionGroup var device: DeviceIDOption
        @Option(name: .long, help: ArgumentHelp("Public key: base64 text or a file holding it.", valueName: "PUB"))
        var publicKey: String
        @OptionGroup var options: StoreOptions

        func run() throws {
            let deviceID = try device.resolved()
            let key = try SigningKeys.publicKey(fromBase64OrPath: publicKey)
            let store = try options.open()
            var parsed: RolloutChannel?
            do { parsed = try RolloutChannel.decode(try ChannelSource.read(channel)) } catch let e as LifecycleError {
                if case .invalidChannel = e { throw e }
                StandardStream.error.write("offline: \(e)\n")
                parsed = nil
            } catch {
                StandardStream.error.write("offline: \(String(describing: error))\n")
                parsed = nil
            }
            let outcome = store.update(deviceID: deviceID, channel: parsed, publicKey: key) { release in
                (try ChannelSource.manifest(release, channel: channel), ChannelSource.model(release, channel: channel))
            }
            if case .updated = outcome { try TrustedKeys.add(key) }
            switch outcome {
            case .offlineKeptActive(let a):
                print("offline: kept \(a ?? "no active model")")
            case .upToDate(let a):
                print("up to date: \(a ?? "no active model (this device is in no release)")")
            case .updated(let from, let to):
                print("updated: \(from ?? "none") → \(to) (active)")
            case .keptActive(let a, let reason):
                print("kept \(a ?? "no active model")")
                throw CLIError("update not installed: \(reason)", hint: "the active model is unchanged")
            }
        }
    }
}
