// EdgeLMServer: bearer-key authentication and per-request metrics.

import Hummingbird
import Logging

/// Requires `Authorization: Bearer <key>` on every path but `/health`; compares in constant time (the time
/// depends on the lengths only, never on where the bytes differ).
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]

    init(key: String) { self.key = Array(key.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              Self.constantTimeEqual(Array(header.utf8.dropFirst(7)), key) else {
            throw APIError.unauthorized
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}

/// Counts every answer by endpoint and status, and refusals by reason; optionally logs method, path, status and
/// milliseconds (never headers or bodies).
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger?


    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        let endpoint = MetricLabels.endpoints.contains(path) ? path : path.hasPrefix("/v1/models/") ? "/v1/models" : "other"
        do {
            let response = try await next(request, context)
            record(endpoint, response.status.code, start, request)
            return response
        } catch let e as APIError {
            if let r = e.refusal { metrics.refusal(r) }
            record(endpoint, e.status.code, start, request)
            throw e
        } catch let e as any HTTPResponseError {
            metrics.refusal(e.status.code == 404 ? "not_found" : e.status.code == 413 ? "body_too_large" : "bad_request")
            record(endpoint, e.status.code, start, request)
            throw e
        } catch {
            record(endpoint, 500, start, request)
            throw error
        }
    }

    private func record(_ endpoint: String, _ status: Int, _ start: ContinuousClock.Instant, _ request: Request) {
        metrics.request(endpoint: endpoint, status: status)
        if let logger {
            logger.info("\(request.method) \(endpoint) \(status) \(Int(Handlers.seconds(since: start) * 1000)) ms")
        }
    }
}

enum MetricLabels {
    /// Paths reported by name; anything else is `other` (bounded label values).
    static let endpoints: Set<String> = ["/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions",
                                         "/v1/classify", "/v1/extract", "/v1/rewrite"]
}
