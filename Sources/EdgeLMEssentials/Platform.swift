// The platform every module builds on, in one place: FoundationEssentials (Foundation where it does not exist,
// e.g. Apple platforms), the C library and Dispatch. `import EdgeLMEssentials` brings them; no library module
// imports Foundation (ICU) or FoundationNetworking (docs/architecture.md).

#if canImport(FoundationEssentials)
@_exported import FoundationEssentials
#else
@_exported import Foundation
#endif
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Musl)
@_exported import Musl
#elseif canImport(Darwin)
@_exported import Darwin
#endif
@_exported import Dispatch
