// Shared helpers for tests that use the real model files in weights/ (fetched by weights/fetch.sh).
import EdgeLM
import Foundation
import InferenceTestSupport

enum RealModel {
    static let smolLM = "smollm2-135m-instruct-q4_1.gguf"
    static let gemma = "gemma-3-270m-q4_k_m.gguf"

    /// The repository's weights/ directory: the first ancestor of this file (or of the working directory) with one.
    static func weightsDirectory(from file: String = #filePath) -> URL? {
        let starts = [URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent(),
                      URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        for start in starts {
            var dir = start
            while dir.path != "/" {
                let weights = dir.appendingPathComponent("weights")
                if FileManager.default.fileExists(atPath: weights.appendingPathComponent("fetch.sh").path) {
                    return weights
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        return nil
    }

    /// The model named `fileName`: EDGELM_MODEL when it names that file, else weights/fileName; nil when missing.
    static func path(_ fileName: String) -> String? {
        if let env = ProcessInfo.processInfo.environment["EDGELM_MODEL"], env.hasSuffix(fileName),
            FileManager.default.fileExists(atPath: env)
        {
            return env
        }
        guard let path = weightsDirectory()?.appendingPathComponent(fileName).path,
            FileManager.default.fileExists(atPath: path)
        else { return nil }
        return path
    }

    /// The built `edgelm` executable next to the test bundle, if present.
    static func edgelmBinary() -> URL? { builtExecutable("edgelm") }

    /// The repository root (parent of weights/).
    static var repositoryRoot: URL? { weightsDirectory()?.deletingLastPathComponent() }

    /// The reference JSON of llama.cpp's outputs for `fileName` (Tests/RealModelTests/Reference/).
    static func reference(_ fileName: String) throws -> [String: Any] {
        let name = (fileName as NSString).deletingPathExtension
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Reference"),
            let data = try? Data(contentsOf: url),
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw CocoaError(.fileReadNoSuchFile) }
        return json
    }

    /// The path of a file beside the reference JSONs (e.g. apache-2.0.txt).
    static func referenceFile(_ name: String) -> String? {
        Bundle.module.url(forResource: (name as NSString).deletingPathExtension,
                          withExtension: (name as NSString).pathExtension, subdirectory: "Reference")?.path
    }

    /// One loaded model per file, shared by the tests of a run (loading is cheap, but sessions are not).
    nonisolated(unsafe) private static var cache: [String: Model] = [:]
    private static let lock = NSLock()
    static func model(_ fileName: String) throws -> Model? {
        guard let p = path(fileName) else { return nil }
        lock.lock(); defer { lock.unlock() }
        if let m = cache[p] { return m }
        let m = try Model(path: p)
        cache[p] = m
        return m
    }
}
