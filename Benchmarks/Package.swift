// swift-tools-version:6.1
// Kernel benchmarks for EdgeLM (a separate package, like swift-nio's Benchmarks/, so the main package does not
// depend on package-benchmark). Run from this directory:
//   swift package --disable-sandbox benchmark --target KernelBenchmarks     (package-benchmark, with malloc counts)
//   swift run -c release kernel-bench                                       (plain table: GB/s, GFLOP/s)
// See ../docs/performance.md for how the published figures were produced.
import PackageDescription

var kernelFlags: [SwiftSetting] = []
#if arch(x86_64)
kernelFlags.append(.unsafeFlags(["-Ounchecked", "-Xcc", "-march=x86-64-v3"]))
#endif

let package = Package(
    name: "EdgeLMBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so `package: "EdgeLM"` below does not depend on the folder the repository was cloned into.
        .package(name: "EdgeLM", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.29.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "EdgeLM", package: "EdgeLM"),
            ],
            path: "KernelBenchmarks",
            swiftSettings: kernelFlags,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "kernel-bench",
            dependencies: [.product(name: "EdgeLM", package: "EdgeLM")],
            path: "Sources/kernel-bench",
            swiftSettings: kernelFlags
        ),
    ]
)
