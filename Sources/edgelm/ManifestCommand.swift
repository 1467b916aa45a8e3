import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `edgelm manifest keygen|create|verify`: signed model release manifests.
struct ManifestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Create, sign and verify model release manifests (Ed25519).",
        subcommands: [Keygen.self, Create.self, Verify.self])

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an Ed25519 signing key; prints the public key (base64).",
            discussion: "The private key is written to KEYFILE (mode 0600), the public key also to KEYFILE.pub.")

        @Option(name: .long, help: ArgumentHelp("Private key file to create.", valueName: "KEYFILE"))
        var out: String

        @Flag(name: .long, help: "Overwrite an existing key file.")
        var force = false

        func run() throws {
            if !force, FileManager.default.fileExists(atPath: out) {
                throw CLIError("\(out) already exists", hint: "pass --force to overwrite it, or choose another path")
            }
            let key = SigningKeys.generate()
            let pub = try SigningKeys.write(key, to: out)
            try AtomicFile.write(Data((pub + "\n").utf8), to: out + ".pub")
            print(pub)
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Describe and sign a GGUF model file.",
            discussion: "Streams the file's SHA-256 and reads its architecture, tensor types, tokenizer and memory needs.")

        @Argument(help: ArgumentHelp("The GGUF model file.", valueName: "MODEL.gguf"))
        var model: String
        @Option(name: .long, help: "Model id ([A-Za-z0-9._-]).")
        var id: String
        @Option(name: .long, help: ArgumentHelp("Semantic version.", valueName: "X.Y.Z"))
        var version: String
        @Option(name: .long, help: ArgumentHelp("Private key file (from `manifest keygen`).", valueName: "KEYFILE"))
        var signKey: String
        @Option(name: .long, help: ArgumentHelp("Manifest file to write.", valueName: "MANIFEST.json"))
        var out: String
        @Option(name: .long, help: "Download URL to record in the manifest.")
        var url: String?
        @Option(name: .long, help: "Minimum engine version (default: this engine's).")
        var minEngine: String?
        @Option(name: .long, help: "Maximum engine version (default: next major).")
        var maxEngine: String?
        @Option(name: .long, help: "Comma-separated capabilities (default: all of suggest,draft,classify,prefill,decide).")
        var capabilities: String?

        func run() throws {
            var caps = TaskCapability.allCases
            if let capabilities {
                caps = try capabilities.split(separator: ",").map { s in
                    guard let c = TaskCapability(rawValue: s.trimmingWhitespace()) else {
                        throw CLIError("unknown capability '\(s)'", hint: "use \(TaskCapability.allCases.map(\.rawValue).joined(separator: ","))")
                    }
                    return c
                }
            }
            let key = try SigningKeys.readPrivateKey(at: signKey)
            let manifest = try ModelManifest.describe(
                modelAt: model, id: id, version: try SemVer(parsing: version),
                minEngineVersion: try minEngine.map(SemVer.init(parsing:)) ?? EngineVersion.current,
                maxEngineVersion: try maxEngine.map(SemVer.init(parsing:)), capabilities: caps, url: url,
                measuredMemory: Self.sessionRequirements(modelAt: model)
            ).signed(with: key)
            try AtomicFile.write(try manifest.encodedForFile(), to: out)
            print("wrote \(out): \(manifest.key) sha256 \(manifest.sha256) \(manifest.byteSize) bytes")
        }

        /// The engine's exact requirement per built-in profile (Inference's `Session.memoryRequirement` with the
        /// profile's context, batch, threads and weight residency), or empty when Inference cannot load the
        /// file (the manifest then uses ModelLifecycle's formula alone).
        static func sessionRequirements(modelAt path: String) -> [String: Int] {
            guard let model = try? Model(path: path) else { return [:] }
            var out: [String: Int] = [:]
            for p in DeviceProfile.builtIns {
                let options = MemoryOptions.sessionOptions(profile: p, model: model)
                if let r = try? Session.memoryRequirement(model: model, options: options) { out[p.name] = r.total }
            }
            return out
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a manifest's signature (and optionally a model file against it).")

        @Argument(help: ArgumentHelp("The manifest.", valueName: "MANIFEST.json"))
        var manifest: String
        @Option(name: .long, help: ArgumentHelp("Public key: base64 text or a file holding it.", valueName: "PUB"))
        var publicKey: String
        @Option(name: .long, help: ArgumentHelp("Also check this model file's size, SHA-256 and tokenizer.", valueName: "MODEL.gguf"))
        var file: String?
        @Option(name: .long, help: "Also check compatibility with this device profile (wearable, phone-low, phone, laptop, edge-server).")
        var profile: String?

        func run() throws {
            let m = try ModelManifest.load(from: manifest)
            try m.verifySignature(try SigningKeys.publicKey(fromBase64OrPath: publicKey))
            if let profile {
                guard let p = DeviceMemoryProfile.named(profile) else { throw CLIError("unknown profile '\(profile)'") }
                try m.checkCompatibility(profile: p)
            }
            if let file {
                let (sha, size) = try FileDigest.sha256(ofFileAt: file)
                guard size == m.byteSize else { throw LifecycleError.sizeMismatch(expected: m.byteSize, actual: size) }
                guard sha == m.sha256 else { throw LifecycleError.checksumMismatch(expected: m.sha256, actual: sha) }
                try m.checkMatches(modelAt: file)
            }
            print("ok: \(m.key) signature valid\(file == nil ? "" : ", file matches")")
        }
    }
}
