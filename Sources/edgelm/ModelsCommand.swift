import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `--store` and `--profile`, shared by the `models` subcommands.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Model store directory (default: $EDGELM_STORE, else ~/.edgelm/models).", valueName: "DIR"))
    var store: String?
    @Option(name: .long, help: "Device profile for compatibility checks: wearable, phone-low, phone, laptop, edge-server.")
    var profile: String = DeviceMemoryProfile.laptop.name
    @Option(name: .long, help: "Keep at most this many versions.")
    var maxVersions: Int = StoragePolicy().maxVersions
    @Option(name: .long, help: "Keep at most this many bytes of versions.")
    var maxBytes: Int?

    func validate() throws {
        guard DeviceMemoryProfile.named(profile) != nil else {
            throw ValidationError("unknown --profile '\(profile)' (use \(DeviceMemoryProfile.all.map(\.name).joined(separator: ", ")))")
        }
        try checkRange("--max-versions", maxVersions, 1...1_000_000)
        if let maxBytes { try checkRange("--max-bytes", maxBytes, 1...Int.max) }
    }

    func open() throws -> ModelStore {
        let s = try ModelStore(path: store ?? ModelStore.defaultPath, profile: DeviceMemoryProfile.named(profile)!,
                               policy: StoragePolicy(maxVersions: maxVersions, maxBytes: maxBytes ?? Int.max),
                               trustedKeys: try TrustedKeys.load())
        s.transport = SubprocessTransport.beside
        // Kill tests: EDGELM_TEST_CRASH_AT=<step> ends the process abruptly at that install step.
        if let step = ProcessInfo.processInfo.environment["EDGELM_TEST_CRASH_AT"], let target = InstallStep(rawValue: step) {
            s.crashHook = { if $0 == target { _exit(137) } }
        }
        return s
    }
}

/// `edgelm models install|list|activate|rollback|verify|gc`: the on-device model store.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Install, list, switch and check model versions in the on-device store.",
        subcommands: [Install.self, List.self, Activate.self, Rollback.self, Verify.self, GC.self,
                      ChannelCommand.self, Update.self])

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify and install a signed model release, then activate it.",
            discussion: "Size, SHA-256, signature and compatibility are verified before activation; the active model is untouched on any failure.")

        @Argument(help: ArgumentHelp("The signed manifest.", valueName: "MANIFEST.json"))
        var manifest: String
        @Option(name: .long, help: ArgumentHelp("Local model file (default: download the manifest's url).", valueName: "MODEL.gguf"))
        var file: String?
        @Option(name: .long, help: ArgumentHelp("Public key: base64 text or a file holding it.", valueName: "PUB"))
        var publicKey: String
        @Flag(name: .long, help: "Install without activating.")
        var noActivate = false
        @Flag(name: .long, help: "No progress on stderr.")
        var quiet = false
        @OptionGroup var options: StoreOptions

        func run() throws {
            let store = try options.open()
            let key = try SigningKeys.publicKey(fromBase64OrPath: publicKey)
            var lastShown = -1
            // The progress line ends with a newline whatever happens, so an error starts on its own line.
            defer { if !quiet, lastShown >= 0 { StandardStream.error.write("\n") } }
            let m = try store.install(
                manifestAt: manifest, publicKey: key, source: file.map(ModelSource.file) ?? .manifestURL,
                activate: !noActivate,
                progress: quiet ? nil : { done, total in
                    let pct = total > 0 ? done * 100 / total : 0
                    if pct != lastShown {
                        lastShown = pct
                        StandardStream.error.write("\r\(pct)% (\(done)/\(total) bytes)")
                    }
                })
            // Installing with a key is the operator vouching for it: it becomes a trusted key of this device
            // (kept outside the store, see TrustedKeys), so `--store` loads can verify the manifest.
            try TrustedKeys.add(key)
            print("installed \(m.key)\(noActivate ? "" : " (active)")")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List installed versions, the active one and the last-known-good one.")
        @Flag(name: .long, help: "Print JSON.")
        var json = false
        @OptionGroup var options: StoreOptions

        func run() throws {
            let store = try options.open()
            let list = try store.installed()
            let active = store.active, lkg = store.lastKnownGood
            if json {
                try printJSON([
                    "store": store.root,
                    "active": active as Any? ?? JSONValue.null,
                    "last_known_good": lkg as Any? ?? JSONValue.null,
                    "versions": list.map { m -> [String: Any] in
                        ["key": m.key, "id": m.manifest.id, "version": "\(m.manifest.version)",
                         "bytes": m.manifest.byteSize, "sha256": m.manifest.sha256,
                         "active": m.key == active, "last_known_good": m.key == lkg,
                         "installed_at": m.installedAt, "path": m.modelPath] as [String: Any]
                    },
                ] as [String: Any])
                return
            }
            if list.isEmpty { print("no models installed in \(store.root)") }
            for m in list {
                let marks = [m.key == active ? "active" : nil, m.key == lkg ? "last-known-good" : nil].compactMap { $0 }
                print("\(m.key)  \(m.manifest.byteSize) bytes\(marks.isEmpty ? "" : "  [" + marks.joined(separator: ", ") + "]")")
            }
        }
    }

    struct Activate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an installed version active.")
        @Argument(help: ArgumentHelp("The version to activate.", valueName: "ID@VERSION"))
        var key: String
        @OptionGroup var options: StoreOptions

        func run() throws {
            try options.open().activate(key)
            print("active: \(key)")
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Switch back to the last-known-good version.")
        @OptionGroup var options: StoreOptions

        func run() throws {
            print("active: \(try options.open().rollback())")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every installed version, check its manifest's signature and check the pointers.",
            discussion: "Signatures are checked against the device's trusted keys ($EDGELM_TRUSTED_KEYS, else $XDG_CONFIG_HOME/edgelm/trusted-keys, else ~/.config/edgelm/trusted-keys) and --public-key.")
        @Option(name: .long, help: ArgumentHelp("Also trust this public key: base64 text or a file holding it.", valueName: "PUB"))
        var publicKey: String?
        @OptionGroup var options: StoreOptions

        func run() throws {
            let store = try options.open()
            if let publicKey { store.trustedKeys.append(try SigningKeys.publicKey(fromBase64OrPath: publicKey)) }
            let problems = store.verify()
            for p in problems { StandardStream.error.write("\(p)\n") }
            guard problems.isEmpty else {
                throw CLIError("\(problems.count) problem(s) in \(store.root)", hint: "reinstall the affected versions")
            }
            print("ok: \(try store.installed().count) version(s) verified")
        }
    }

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc", abstract: "Evict old versions beyond the caps and clear interrupted installs.")
        @OptionGroup var options: StoreOptions

        func run() throws {
            let evicted = try options.open().gc()
            print(evicted.isEmpty ? "nothing to evict" : "evicted: " + evicted.joined(separator: ", "))
        }
    }
}
