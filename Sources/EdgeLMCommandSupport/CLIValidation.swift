// Validation shared by every command (numeric ranges, labels, URLs, the context cap) and the one-line
// error printer behind `edgelm`'s entry point.

import ArgumentParser
import EdgeLM
import EdgeLMEssentials

/// Throws a `ValidationError` naming `option`, the allowed range and the value given.
package func checkRange<T: Comparable>(_ option: String, _ value: T, _ range: ClosedRange<T>) throws {
    guard range.contains(value) else {  // NaN is never contained
        throw ValidationError("\(option) must be in \(rangeText(range)), got \(value)")
    }
}

/// `1...256`, `≥ 1` (no upper bound) or `[0, 1]`-style text for a range.
package func rangeText<T: Comparable>(_ range: ClosedRange<T>) -> String {
    if let r = range as? ClosedRange<Int>, r.upperBound == Int.max { return "\(r.lowerBound)...\(Int.max) (≥ \(r.lowerBound))" }
    return "\(range.lowerBound)...\(range.upperBound)"
}

/// Largest `--ctx` any command accepts before the model is even loaded (the model's own limit is then
/// checked by ``checkContext(_:model:)``).
package let maxContextOption = ModelConfig.Limits.maxContextLength

/// Refuses a context longer than the model supports: its trained `context_length`, or that times the RoPE
/// scaling factor when the file declares RoPE scaling (``ModelConfig/maximumContextLength(file:)``).
package func checkContext(_ ctx: Int?, model: Model) throws {
    guard let ctx else { return }
    let limit = model.config.maximumContextLength(file: model.file)
    guard ctx <= limit else {
        throw CLIError("--ctx \(ctx) exceeds the model's context of \(limit) tokens",
                       hint: "pass --ctx \(limit) or less (the model was trained for \(model.config.contextLength)"
                           + " and declares no RoPE scaling beyond \(limit))")
    }
}

/// Comma-separated labels, validated: at least two, none empty, no two equal ignoring case.
package func parseLabels(_ text: String) throws -> [String] {
    let labels = text.split(separator: ",", omittingEmptySubsequences: false)
        .map { $0.trimmingWhitespace() }
    if let i = labels.firstIndex(where: \.isEmpty) {
        throw ValidationError("--labels has an empty label (position \(i + 1)); give non-empty labels separated by commas")
    }
    guard labels.count >= 2 else { throw ValidationError("--labels needs at least two labels separated by commas") }
    var seen: [String: String] = [:]
    for l in labels {
        if let first = seen[l.lowercased()] {
            throw ValidationError("--labels has '\(first)' and '\(l)', which are the same ignoring case; give distinct labels")
        }
        seen[l.lowercased()] = l
    }
    return labels
}

/// An http(s) URL with a host, or a `ValidationError` naming `option`.
package func checkHTTPURL(_ option: String, _ text: String) throws {
    guard let u = URL(string: text), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
        let host = u.host, !host.isEmpty
    else {
        throw ValidationError("\(option) must be an http:// or https:// URL with a host, got '\(SafeText.quote(text, limit: 128))'")
    }
}

/// Command-line plumbing of the `edgelm` entry point.
/// The remote escalation endpoint of the task commands and the server: `explicit` (`--remote-url`), else
/// `$EDGELM_REMOTE_URL`, held to the same rule (http or https with a host); nil when neither gives one.
package func remoteEndpoint(_ explicit: String?) -> URL? {
    let text = explicit ?? ProcessInfo.processInfo.environment["EDGELM_REMOTE_URL"]
    return text.flatMap { (try? checkHTTPURL("--remote-url", $0)) != nil ? URL(string: $0) : nil }
}

/// Non-Sendable values handed to other threads (worker threads that each use their own part, or a task the
/// caller waits for).
package final class UncheckedBox<T>: @unchecked Sendable {
    package var value: T
    package init(_ value: T) { self.value = value }
}

package enum CLIMain {
    /// The entry point of the `edgelm` executables: ArgumentParser's, except that negative numbers are accepted
    /// as option values (so their range check can name the option) and every error is one line on stderr —
    /// `Error: <what>; hint: <how>`, control characters escaped, at most 1 KiB — instead of the Error/Usage/See
    /// block. `commandPath` names the subcommands in the arguments (for the hint's `--help`).
    package static func main<Root: ParsableCommand>(_ root: Root.Type, commandPath: ([String]) -> [String]) -> Never {
        let args = normalize(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try root.parseAsRoot(args)
            try command.run()
            exit(0)
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            let code = root.exitCode(for: error)
            if code == .success { root.exit(withError: error) }  // --help, --version: ArgumentParser's output
            let line = errorLine(error, message: root.message(for: error), commandPath: commandPath(args))
            StandardStream.error.write(line + "\n")
            exit(code.rawValue)
        }
    }

    /// Rewrites `--option -5` as `--option=-5` so that negative numbers reach validation (and its message
    /// naming the option and range) instead of being taken for an unknown flag. Only a value that looks like
    /// a number (`-1`, `-0.5`, `-.5`, `-inf`, `-nan`) is joined; `--` ends option processing.
    package static func normalize(_ args: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { out += args[i...]; break }
            if a.hasPrefix("--"), !a.contains("="), i + 1 < args.count, looksNegativeNumber(args[i + 1]) {
                out.append(a + "=" + args[i + 1])
                i += 2
                continue
            }
            out.append(a)
            i += 1
        }
        return out
    }

    package static func looksNegativeNumber(_ s: String) -> Bool {
        guard s.hasPrefix("-"), s.count >= 2 else { return false }
        let rest = s.dropFirst().lowercased()
        if rest == "inf" || rest == "infinity" || rest == "nan" { return true }
        return Double(rest) != nil && (rest.first?.isNumber == true || rest.first == ".")
    }

    /// Longest error line printed (bytes); a longer message is cut with a marker.
    package static let maxMessageBytes = 1024

    /// The one line printed for `error`: `Error: <what>; hint: <how>`, control characters escaped, at most
    /// ``maxMessageBytes`` bytes. Parse and validation errors get a hint pointing at the command's help.
    package static func errorLine(_ error: any Error, message: String, commandPath: [String]) -> String {
        var text = message.trimmingWhitespace()
        // ArgumentParser messages can span lines (e.g. lists of possible values): keep one line.
        text = text.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }
            .joined(separator: " ")
        if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
        if !text.contains("hint:") { text += "; hint: " + hint(for: error, commandPath: commandPath) }
        text = SafeText.escapeControls(text)
        if text.utf8.count > maxMessageBytes {
            text = SafeText.quote(text, limit: maxMessageBytes)
        }
        return "Error: " + text
    }

    /// A hint for an error that carries none: the command's help for usage errors (ArgumentParser's parse
    /// and validation errors), what to check for a model that cannot be used.
    package static func hint(for error: any Error, commandPath: [String]) -> String {
        let help = "see `" + (["edgelm"] + commandPath + ["--help"]).joined(separator: " ") + "`"
        if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return help }
        switch error {
        case InferenceError.invalidHyperparameter:
            return "the model file is corrupted or its metadata was edited (`edgelm inspect MODEL` shows its hyperparameters)"
        case is InferenceError, is TokenizerError:
            return "check the model file (`edgelm inspect MODEL`) and the options (\(help.dropFirst(4)))"
        default:
            return help
        }
    }

    /// The subcommand names at the start of `args` (e.g. `["models", "install"]`).
    package static func commandPath(_ args: [String], root: any ParsableCommand.Type) -> [String] {
        var path: [String] = []
        var type = root
        for a in args {
            guard let sub = type.configuration.subcommands.first(where: { $0._commandName == a }) else { break }
            path.append(a)
            type = sub
        }
        return path
    }
}
