import Testing

@testable import SlipwayEventSourcing

/// The relay's wake-up: a commit ends a wait at once, and without commits each wait lasts its timeout —
/// the bench found a timeout that left a signal behind, so the relay polled PostgreSQL without pause. A woken wait
/// is told from a timed-out one by a timeout far longer than a busy machine's pauses.
@Suite("wake signal")
struct WakeSignalTests {
    @Test("a signal ends the next wait at once; afterwards waits last their timeout")
    func signalThenQuiet() async {
        let signal = WakeSignal()
        signal.signal()
        let clock = ContinuousClock()
        let first = await clock.measure { await signal.wait(upTo: .seconds(60)) }
        #expect(first < .seconds(30), "a pending signal should end the wait long before its 60 s timeout")
        let quiet = await clock.measure {
            for _ in 0..<5 { await signal.wait(upTo: .milliseconds(20)) }
        }
        #expect(quiet >= .milliseconds(100), "five quiet waits of 20 ms took \(quiet)")
    }

    @Test("a signal during a wait ends it, and does not shorten the next one")
    func signalDuringWait() async throws {
        let signal = WakeSignal()
        let clock = ContinuousClock()
        async let waited = clock.measure { await signal.wait(upTo: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        signal.signal()
        #expect(await waited < .seconds(30), "the signal should end the wait long before its 60 s timeout")
        let next = await clock.measure { await signal.wait(upTo: .milliseconds(100)) }
        #expect(next >= .milliseconds(100), "the next wait took \(next)")
    }
}
