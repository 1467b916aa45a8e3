// Tasks: the JSON documents of task results, as `edgelm classify|extract|rewrite --json` prints them and the
// server's /v1/classify|extract|rewrite answer them (one definition for both).

import EdgeLMEssentials

/// JSON documents of task results (`[String: Any]` trees; ``JSONValue/init(document:sortingKeys:)`` writes them).
public enum TaskDocument {
    /// Where the answer came from: `escalated`, `origin`, `reason`, `low_confidence`, `detail`.
    public static func routing(_ r: RoutedResult) -> [String: Any] {
        ["escalated": r.escalated, "origin": r.origin.rawValue, "reason": r.reason.rawValue,
         "low_confidence": r.lowConfidence, "detail": r.detail]
    }

    /// Token counts and milliseconds of one task.
    public static func timings(_ t: TaskTimings) -> [String: Any] {
        ["prompt_tokens": t.promptTokens, "generated_tokens": t.generatedTokens, "prefill_ms": t.prefillSeconds * 1000,
         "decode_ms": t.decodeSeconds * 1000, "mask_ms": t.maskSeconds * 1000, "total_ms": t.totalSeconds * 1000]
    }

    /// One classification: `label`, `probabilities`, `confidence`, `timings`, `channel_skipped`, `channel_labels` and the
    /// routing fields.
    public static func classification(_ result: RoutedResult, _ c: Classification) -> [String: Any] {
        var obj: [String: Any] = [
            "label": c.label,
            "probabilities": Dictionary(uniqueKeysWithValues: zip(c.labels, c.probabilities)),
            "confidence": c.confidence,
            "timings": timings(c.timings),
            // Combined scoring answered by the direct half alone (it was sure enough: TaskOptions.channelSkip).
            "channel_skipped": c.channelSkipped,
            // Labels whose channel half was evaluated (0 for direct scoring or a skip; TaskOptions.channelLabels at most).
            "channel_labels": c.channelLabels,
        ]
        obj.merge(routing(result)) { a, _ in a }
        return obj
    }

    /// One rewrite: `text` and the routing fields.
    public static func rewrite(_ result: RoutedResult, _ text: String) -> [String: Any] {
        var obj: [String: Any] = ["text": text]
        obj.merge(routing(result)) { a, _ in a }
        return obj
    }

    /// One document as compact JSON text with sorted keys (what the CLI prints).
    public static func text(_ object: Any) -> String {
        JSONValue(document: object).description
    }
}
