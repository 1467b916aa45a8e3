// The executables `swift build` puts beside the test bundle (edgelm, edgelm-server, edgelm-http): the CLI and
// real-model suites run them as processes.

import Foundation

/// The built executable `name` next to the test bundle, if present.
package func builtExecutable(_ name: String) -> URL? {
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
    for dir in candidates {
        let url = dir.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return nil
}
