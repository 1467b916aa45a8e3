import ArgumentParser
import EdgeLM
import EdgeLMEssentials

/// `--profile NAME|FILE`, `--memory-cap BYTES|MiB|GiB`, `--residency`, `--kv-type` and `--kv-policy`, shared by
/// commands that create sessions.
package struct MemoryOptions: ParsableArguments {
    package init() {}
    @Option(name: .long, help: ArgumentHelp(
        "Device profile: \(DeviceProfile.builtIns.map(\.name).joined(separator: ", ")), or a JSON profile file.",
        discussion: "Sets the memory cap, threads, context, max output tokens and weight residency (docs/memory.md).",
        valueName: "name|file"))
    package var profile: String?

    @Option(name: .customLong("memory-cap"), help: ArgumentHelp(
        "Memory cap for the session (bytes, or with a unit: 512MiB, 1.5GiB); overrides the profile's.",
        valueName: "bytes"), transform: MemoryOptions.parseCap)
    package var memoryCap: Int?

    @Option(name: .long, help: "Weight residency: resident or streamed (overrides the profile's).")
    package var residency: WeightResidency?

    @Option(name: .customLong("kv-type"), help: "KV cache type: f16 (default, exact), q8_0 or q4_0 (overrides the profile's).")
    package var kvType: KVCacheType?

    @Option(name: .customLong("kv-policy"), help: ArgumentHelp(
        "When the context is full: refuse, sliding-window[:SINKS] or context-shift[:KEEP] (overrides the profile's).",
        valueName: "policy"), transform: MemoryOptions.parsePolicy)
    package var kvPolicy: KVCachePolicy?

    package static func parsePolicy(_ text: String) throws -> KVCachePolicy {
        // ArgumentParser already names the option and the value ("The value 'x' is invalid for '--kv-policy
        // <policy>': …"): say only what is expected, once.
        do { return try KVCachePolicy(parsing: text) } catch DeviceProfileError.invalidField(_, let reason, _) {
            throw ValidationError(reason.contains("count after ':'")
                ? "the count after ':' must be a non-negative integer"
                : "expected refuse, sliding-window[:SINKS] or context-shift[:KEEP]")
        } catch { throw ValidationError("\(error)") }
    }

    package static func parseCap(_ text: String) throws -> Int {
        do { return try ByteCount.parse(text) } catch { throw ValidationError("\(error)") }  // ArgumentParser names the option
    }

    /// The profile named or loaded by `--profile`, or nil.
    package func resolvedProfile() throws -> DeviceProfile? {
        guard let profile else { return nil }
        do { return try DeviceProfile.resolve(profile) } catch { throw CLIError("\(error)") }
    }

    /// Session options for `model`: the profile's (if any), then explicit `--ctx`/`--threads`, `--memory-cap`,
    /// `--residency` on top.
    package func sessionOptions(model: Model, ctx: Int?, threads: Int?) throws -> SessionOptions {
        var o = SessionOptions(contextLength: ctx)
        if let threads { o.threads = threads }
        if let p = try resolvedProfile() {
            o = MemoryOptions.sessionOptions(profile: p, model: model)
            if let ctx { o.contextLength = ctx }
            if let threads { o.threads = threads }
        }
        if let memoryCap { o.memoryBudget = MemoryBudget(cap: memoryCap) }
        if let residency { o.residency = residency }
        if let kvType { o.kvType = kvType }
        if let kvPolicy { o.kvPolicy = kvPolicy }
        return o
    }

    /// The session options a profile implies for `model` (context capped by the model's).
    package static func sessionOptions(profile p: DeviceProfile, model: Model) -> SessionOptions {
        SessionOptions(contextLength: min(p.contextLength, model.config.contextLength), batchSize: p.batch,
                       threads: p.threads, residency: p.residency, memoryBudget: MemoryBudget(cap: p.memoryCap),
                       kvType: p.kvType, kvPolicy: p.kvPolicy)
    }
}

extension WeightResidency: ExpressibleByArgument {}
extension KVCacheType: ExpressibleByArgument {}
