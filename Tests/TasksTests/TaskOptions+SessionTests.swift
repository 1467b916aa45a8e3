import Foundation
import Testing
import Inference
@testable import Tasks

/// Device-profile settings reach the task session (`TaskOptions.sessionOptions(for:)` is what `TaskRunner` allocates).
@Suite(.serialized) struct TaskOptionsSessionTests {
    @Test("Residency, KV type and policy reach the runner's session; streamed weights give the same classification")
    func profileSettingsReachTheSession() throws {
        var resident = TaskOptions(contextLength: 256, threads: 1)
        resident.calibration = .none
        var streamed = resident
        streamed.residency = .streamed
        let r1 = try TaskRunnerTests.runner(seed: 7, options: resident)
        let r2 = try TaskRunnerTests.runner(seed: 7, options: streamed)
        let a = try r1.classify("a tiny test sentence", labels: ["yes", "no", "maybe"])
        let b = try r2.classify("a tiny test sentence", labels: ["yes", "no", "maybe"])
        #expect(a.probabilities == b.probabilities, "streamed weights must not change the scores")

        var shifting = resident
        shifting.kvPolicy = .contextShift(keep: 4)
        let r3 = try TaskRunnerTests.runner(seed: 7, options: shifting)
        #expect(r3.session.kvPolicy == .contextShift(keep: 4))
        #expect(r1.session.kvPolicy == .refuse && r1.session.kvType == .f16)
        // The KV type reaches the session too: this tiny model's 16-wide heads cannot hold q8_0 blocks, and the
        // session says so with a typed error instead of silently keeping f16.
        var quantized = resident
        quantized.kvType = .q8_0
        #expect(throws: InferenceError.self) { _ = try TaskRunnerTests.runner(seed: 7, options: quantized) }
    }

    @Test("A memory budget in TaskOptions refuses a runner that does not fit, with the typed error")
    func budgetRefusal() throws {
        var o = TaskOptions(contextLength: 256, threads: 1)
        o.memoryBudget = MemoryBudget(cap: 1 << 10, runtimeBytes: 0)
        #expect(throws: MemoryBudgetError.self) { _ = try TaskRunnerTests.runner(options: o) }
        o.memoryBudget = MemoryBudget(cap: 1 << 30, runtimeBytes: 0)
        _ = try TaskRunnerTests.runner(options: o)
    }
}
