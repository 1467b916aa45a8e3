// EdgeLMServer: errors as OpenAI-style JSON bodies with the right HTTP status.

import Hummingbird
import Tasks

/// An error answered to an HTTP client: status, OpenAI-style body
/// `{"error": {"message", "type", "param", "code"}}`, and extra headers (`Retry-After`, `WWW-Authenticate`).
/// Messages never quote request content beyond a short field name.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var code: String?
    var param: String?
    var headers: HTTPFields = [:]
    /// Counted in `edgelm_refusals_total{reason}` (nil: not a refusal, e.g. a server fault).
    var refusal: String?

    static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", code: code, param: param,
                 refusal: "bad_request")
    }

    static func notFound(_ message: String, code: String) -> APIError {
        APIError(status: .notFound, message: message, type: "invalid_request_error", code: code, refusal: "not_found")
    }

    static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "the request body is larger than the server's limit of \(limit) bytes",
                 type: "invalid_request_error", code: "request_too_large", refusal: "body_too_large")
    }

    static let unauthorized = APIError(status: .unauthorized, message: "missing or wrong API key (send Authorization: Bearer <key>)",
                                       type: "authentication_error", code: "invalid_api_key",
                                       headers: [.wwwAuthenticate: "Bearer"], refusal: "unauthorized")

    static func overloaded(_ message: String, retryAfter: Int) -> APIError {
        APIError(status: .tooManyRequests, message: message, type: "server_overloaded", code: "queue_full",
                 headers: [.retryAfter: String(retryAfter)], refusal: "queue_full")
    }

    static func unavailable(_ message: String, reason: String, retryAfter: Int?) -> APIError {
        var e = APIError(status: .serviceUnavailable, message: message, type: "server_unavailable", code: reason, refusal: reason)
        if let retryAfter { e.headers[.retryAfter] = String(retryAfter) }
        return e
    }

    /// The request was stopped (its client went away).
    static let cancelled = APIError(status: .serviceUnavailable, message: "the request was cancelled", type: "cancelled",
                                    code: "cancelled")

    static func server(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", code: nil)
    }

    /// The body's JSON value.
    var body: JSONValue {
        var error: [(String, JSONValue)] = [("message", .string(message)), ("type", .string(type))]
        error.append(("param", param.map { .string($0) } ?? .null))
        error.append(("code", code.map { .string($0) } ?? .null))
        return .object([("error", .object(error))])
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: body.description + "\n")))
    }
}
