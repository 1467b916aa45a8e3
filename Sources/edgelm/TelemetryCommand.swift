import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `edgelm telemetry show`: the device's aggregate counters, as JSON or Prometheus text.
struct TelemetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry",
        abstract: "Private, aggregate-only telemetry (counters and histograms; never text).",
        subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export the aggregate counters.")
        @Flag(name: .long, help: "Prometheus text format instead of JSON.")
        var prometheus = false
        @Option(name: .long, help: "Add Laplace noise with this epsilon (differential privacy).")
        var epsilon: Double?
        @Option(name: .long, help: ArgumentHelp("Model store directory holding telemetry.json (default: $EDGELM_TELEMETRY if a path, else $EDGELM_STORE, else ~/.edgelm/models).", valueName: "DIR"))
        var store: String?

        func validate() throws {
            if let epsilon {
                guard epsilon > 0, epsilon <= 1e6 else { throw ValidationError("--epsilon must be in (0, 1000000], got \(epsilon)") }
            }
        }

        func run() throws {
            var location = TelemetryStore.resolve(storeDirectory: store)
            if location == nil {
                StandardStream.error.write("edgelm: telemetry recording is off (EDGELM_TELEMETRY); showing what was recorded before\n")
                location = TelemetryStore.resolve(environment: [:], storeDirectory: store ?? ModelStore.defaultPath)
            }
            let files = location!
            let telemetry = files.load()
            // The active model of the store, when there is one (never creates the store).
            let storeDir = store ?? ProcessInfo.processInfo.environment["EDGELM_STORE"].flatMap { $0.isEmpty ? nil : $0 }
                ?? ModelStore.defaultPath
            if let s = try? ModelStore.existing(at: storeDir), let active = s.active { telemetry.setModel(key: active) }
            let id = try InstallID.current(at: files.installIDPath)
            let noise = epsilon.map { LaplaceNoise(epsilon: $0) }
            if prometheus {
                writeStdout(telemetry.exportPrometheus(installID: id, noise: noise))
            } else {
                StandardStream.output.write(bytes: try telemetry.exportJSON(installID: id, noise: noise))
                writeStdout("\n")
            }
        }
    }
}
