import ArgumentParser
import EdgeLM
import Foundation

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
        @Option(name: .long, help: ArgumentHelp("Model store directory holding telemetry.json (default: $EDGELM_STORE, else ~/.edgelm/models).", valueName: "DIR"))
        var store: String?

        func validate() throws {
            if let epsilon, !(epsilon > 0) { throw ValidationError("--epsilon must be positive") }
        }

        func run() throws {
            let s = try ModelStore(path: store ?? ModelStore.defaultPath)
            let telemetry = Telemetry(contentsOf: s.telemetryPath)
            if let active = s.active, let m = try? s.installed().first(where: { $0.key == active }) {
                telemetry.setModel(id: m.manifest.id, version: m.manifest.version)
            }
            let id = try InstallID.current(at: s.installIDPath)
            let noise = epsilon.map { LaplaceNoise(epsilon: $0) }
            if prometheus {
                writeStdout(telemetry.exportPrometheus(installID: id, noise: noise))
            } else {
                FileHandle.standardOutput.write(try telemetry.exportJSON(installID: id, noise: noise))
                writeStdout("\n")
            }
        }
    }
}
