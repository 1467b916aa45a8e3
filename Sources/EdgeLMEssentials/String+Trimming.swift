// EdgeLMEssentials: string helpers the modules used from Foundation, which FoundationEssentials lacks.
// The library modules import FoundationEssentials (not Foundation, ICU or FoundationNetworking) so that a
// process that runs a model does not map and relocate them: see docs/performance.md, "Process memory".

extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines (`Character.isWhitespace`).
    /// Cost: one pass from each end.
    package func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }) else { return "" }
        let last = lastIndex(where: { !$0.isWhitespace })!
        return String(self[first...last])
    }
}
