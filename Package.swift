// swift-tools-version:6.1
// EdgeLM — a pure-Swift quantized LLM inference engine for edge and on-device serving.
import PackageDescription

// The kernels are only fast with AVX2/FMA/F16C code generation and without bounds checks. SwiftPM refuses
// unsafeFlags in *versioned* dependencies: apps depend on EdgeLM by path or branch, or pass the flags
// globally (`-Xswiftc -Xcc -Xswiftc -march=x86-64-v3`, or a toolset); see README "Linking EdgeLM".
var kernelSettings: [SwiftSetting] = []
#if arch(x86_64)
kernelSettings.append(.unsafeFlags(["-Ounchecked", "-Xcc", "-march=x86-64-v3"], .when(configuration: .release)))
// The AVX2 intrinsics the kernels import (Dot+AVX2.swift) need the target features in debug builds too.
kernelSettings.append(.unsafeFlags(["-Xcc", "-march=x86-64-v3"], .when(configuration: .debug)))
// Software prefetch in the decode matvecs (Kernels/Prefetch.swift): LLVM's prefetch intrinsic through the
// compiler's Builtin module; without these flags the hint compiles to nothing.
kernelSettings.append(.unsafeFlags(["-Xfrontend", "-enable-builtin-module", "-DEDGELM_PREFETCH"]))
#endif
// Hot code outside the kernels (attention loop, tokenizer) benefits from the same code generation.
var hotSettings: [SwiftSetting] = []
#if arch(x86_64)
hotSettings.append(.unsafeFlags(["-Xcc", "-march=x86-64-v3"], .when(configuration: .release)))
#endif

// The `edgelm` executable links the Swift runtime and FoundationEssentials statically on Linux: only the code it
// uses is mapped, and no shared library's relocations are dirtied at start (−3.4 MB peak RSS measured on a
// trivial program; docs/performance.md, "Process memory").
var leanExecutable: [LinkerSetting] = []
#if os(Linux)
leanExecutable.append(.unsafeFlags(["-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims"]))
#endif

let package = Package(
    name: "EdgeLM",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EdgeLM", targets: ["EdgeLM"]),
        // URLSessionTransport: the HTTPTransport for apps that install models from URLs or escalate to a remote
        // endpoint (it loads FoundationNetworking, so the EdgeLM library does not link it).
        .library(name: "EdgeLMNetworking", targets: ["EdgeLMNetworking"]),
        .executable(name: "edgelm", targets: ["edgelm"]),
        .executable(name: "edgelm-server", targets: ["edgelm-server"]),
        .executable(name: "edgelm-http", targets: ["edgelm-http"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // The HTTP server (`edgelm serve`): Hummingbird 2 with swift-service-lifecycle for graceful shutdown,
        // swift-prometheus for /metrics. Only the EdgeLMServer target depends on them, not the EdgeLM library.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        // EdgeLMEssentials: the platform imports of every module (FoundationEssentials, the C library, Dispatch) and
        // the few helpers FoundationEssentials lacks. No library module imports Foundation or FoundationNetworking.
        .target(name: "EdgeLMEssentials"),
        // HTTPTransport: the interface downloads and the remote task handler send requests through.
        .target(name: "HTTPTransport"),
        // EdgeLMNetworking: HTTPTransport on URLSession (FoundationNetworking), for apps and the server.
        .target(name: "EdgeLMNetworking", dependencies: ["HTTPTransport"]),
        // GGUF: memory-mapped reader (no dependency: the fuzzer compiles it alone), writer, ggml type table and block layouts.
        .target(name: "GGUF", swiftSettings: hotSettings),
        // Kernels: pure-Swift SIMD quant formats, dot products, matvec/matmul, elementwise ops, thread pool.
        .target(name: "Kernels", dependencies: ["GGUF"], swiftSettings: kernelSettings),
        // OpenBLAS (Debian libopenblas-dev) as an optional f32 GEMM backend for prefill.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .target(name: "KernelsBLAS", dependencies: ["Kernels", "CBLAS"], swiftSettings: kernelSettings),
        // Tokenizers: GGUF-metadata tokenizers (byte-level BPE), chat templates, streaming decoder.
        .target(name: "Tokenizers", dependencies: ["EdgeLMEssentials", "GGUF"], swiftSettings: hotSettings),
        // DeviceProfiles: device classes (memory cap, threads, context, residency), user profiles from JSON.
        .target(name: "DeviceProfiles", dependencies: ["EdgeLMEssentials"]),
        // Inference: Model (immutable) / Session (mutable), architectures, sampling, memory budgets.
        .target(name: "Inference", dependencies: ["EdgeLMEssentials", "GGUF", "Kernels", "Tokenizers", "DeviceProfiles"], swiftSettings: kernelSettings),
        // ModelLifecycle: manifests, signed releases, the on-device model store, staged rollout, telemetry.
        .target(name: "ModelLifecycle", dependencies: ["EdgeLMEssentials", "HTTPTransport", "GGUF", "DeviceProfiles", "Inference", .product(name: "Crypto", package: "swift-crypto")]),
        // Tasks: classify / extract / rewrite on a local model, calibrated confidence, schema-constrained JSON,
        // and the local-first Router that escalates to a remote OpenAI-compatible endpoint.
        .target(name: "Tasks", dependencies: ["EdgeLMEssentials", "HTTPTransport", "Inference", "Kernels", "Tokenizers", "GGUF"], swiftSettings: hotSettings),
        // EdgeLM: the library apps link; re-exports the public modules.
        .target(name: "EdgeLM", dependencies: ["GGUF", "Kernels", "Tokenizers", "Inference", "ModelLifecycle", "Tasks",
                                               "HTTPTransport"]),
        // EdgeLMServer: `edgelm serve`, the OpenAI-compatible HTTP server (continuous batching through Engine,
        // admission, auth, Prometheus metrics). Apps that link EdgeLM do not link it.
        .target(name: "EdgeLMServer", dependencies: [
            "EdgeLM", "EdgeLMNetworking",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The option groups, validation and one-line errors shared by the `edgelm` and `edgelm-server` commands.
        .target(name: "EdgeLMCommandSupport", dependencies: [
            "EdgeLM", "EdgeLMEssentials", "HTTPTransport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The `edgelm` command (lean: `edgelm serve` execs `edgelm-server`, so the HTTP stack is not loaded by
        // the other commands).
        .executableTarget(
            name: "edgelm",
            dependencies: [
                "EdgeLM", "EdgeLMCommandSupport", "EdgeLMEssentials",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: hotSettings,
            linkerSettings: leanExecutable
        ),

        // `edgelm-http`: performs the CLI's HTTP requests (downloads, channels, remote escalation) in a child
        // process, so that `edgelm` does not load FoundationNetworking.
        .executableTarget(name: "edgelm-http", dependencies: ["EdgeLMNetworking"]),

        // `edgelm-server`: what `edgelm serve` runs.
        .executableTarget(
            name: "edgelm-server",
            dependencies: [
                "EdgeLM", "EdgeLMServer", "EdgeLMCommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: hotSettings
        ),

        .testTarget(name: "GGUFTests", dependencies: ["GGUF"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "GGUF"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KernelsBLASTests", dependencies: ["KernelsBLAS", "Kernels"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "GGUF"], resources: [.copy("Golden")]),
        .testTarget(name: "ModelLifecycleTests", dependencies: ["ModelLifecycle", "GGUF", "Inference", "Tasks",
                                                               "InferenceTestSupport", "EdgeLMNetworking",
                                                               "EdgeLMCommandSupport"]),
        .testTarget(name: "TasksTests", dependencies: ["Tasks", "Inference", "GGUF", "Kernels", "InferenceTestSupport",
                                                     "EdgeLMNetworking"]),
        .testTarget(name: "EdgeLMEssentialsTests", dependencies: ["EdgeLMEssentials"]),
        // Tiny random GGUF models and the built executables, shared by the tests below (not a product; `package` access).
        .target(name: "InferenceTestSupport", dependencies: ["GGUF", "Kernels"], path: "Tests/InferenceTestSupport"),
        .testTarget(name: "MemoryBudgetTests", dependencies: ["DeviceProfiles", "Inference", "GGUF", "Kernels", "Tokenizers",
                                                           "InferenceTestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "GGUF", "Kernels", "Tokenizers", "InferenceTestSupport"]),
        .testTarget(name: "EdgeLMServerTests", dependencies: [
            "EdgeLMServer", "EdgeLM", "Inference", "Tasks", "Tokenizers", "InferenceTestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        // Needs weights/ (weights/fetch.sh); skipped with a message when the files are absent.
        .testTarget(name: "RealModelTests", dependencies: ["EdgeLM", "InferenceTestSupport"], resources: [.copy("Reference")]),
    ]
)

// Every target depends directly on every local module it compiles against, also those it reaches through another
// one (`EdgeLM` re-exports the engine's modules, `Inference` re-exports DeviceProfiles, and a module's API carries
// its dependencies' types). SwiftPM gives a module's compile step only its *direct* dependencies' .swiftmodule files
// as inputs, and the compiler keeps a .swiftmodule file untouched when its bytes do not change (EdgeLM.swiftmodule
// never does: it only re-exports). Without these edges, a change of a struct's layout in Tasks recompiled Tasks but
// not EdgeLMServer, whose objects kept the old layout of TaskOutput: the Router then read an `.extraction` answer as
// a `.classification` and crashed copying it (swiftlang/swift-package-manager#10483, swiftlang/swift#89636).
// Linking is unchanged: these modules were linked through the declared dependencies already.
do {
    let byName = Dictionary(uniqueKeysWithValues: package.targets.map { ($0.name, $0) })
    func localDependencies(_ target: Target) -> [String] {
        target.dependencies.compactMap { dependency in
            switch dependency {
            case .targetItem(let name, nil), .byNameItem(let name, nil): return byName[name] == nil ? nil : name
            default: return nil
            }
        }
    }
    for target in package.targets {
        let direct = localDependencies(target)
        var reached = Set(direct), pending = direct
        while let name = pending.popLast() {
            for next in localDependencies(byName[name]!) where reached.insert(next).inserted { pending.append(next) }
        }
        target.dependencies += reached.subtracting(direct).sorted().map { .target(name: $0) }
    }
}
