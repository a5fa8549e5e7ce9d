import Foundation
import HTTPTypes
import RegistryCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing

/// Who caused each event: the caller the gateway names in `X-Slipway-Actor`, kept in the payload's who-field and in
/// the envelope; `internal` for a caller on the service's own port; a reaction acts for whoever caused its cause.
@Suite("Registry records who caused each event", .serialized, .timeLimit(.minutes(2)))
struct RegistryActorTests {
    static func last(_ registry: RegistryHarness, _ model: String) async throws -> StoredEvent {
        try #require(try await registry.store.events(aggregateType: RegisteredModelDecider.aggregateType, aggregateID: model).last)
    }

    @Test("the gateway's actor is in the payload and the envelope; without the header, or with an unusable one, it is internal")
    func commandsRecordTheirActor() async throws {
        try await withRegistry { registry in
            try await registry.api.post(
                "/api/registered-models", #"{"name": "recs", "model_type": "retrieval"}"#, headers: .actor(" alice "), expect: .created)
            let created = try await Self.last(registry, "recs")
            #expect(created.actor == "alice")
            #expect(try RegisteredModelCreated(serializedBytes: created.payload).createdBy == "alice")
            #expect(created.envelope(sourceService: "registry").actor == "alice")

            try await registry.api.patch("/api/registered-models/recs", #"{"description": "two towers"}"#, expect: .ok)
            let updated = try await Self.last(registry, "recs")
            #expect(updated.actor == "internal")
            #expect(try RegisteredModelUpdated(serializedBytes: updated.payload).updatedBy == "internal")

            for unusable in ["   ", String(repeating: "a", count: 129)] {
                try await registry.api.patch(
                    "/api/registered-models/recs", #"{"description": "\#(unusable.count)"}"#, headers: .actor(unusable), expect: .ok)
                #expect(try await Self.last(registry, "recs").actor == "internal", "X-Slipway-Actor: '\(unusable)'")
            }
            // A name the actor secret does not vouch for is a caller on the port: unsigned, signed with another
            // secret, or signed too long ago.
            let stale = ActorVoucher(secret: TestInfrastructure.actorSecret).signature(for: "mallory", at: Date() - 600)
            let forgeries: [HTTPFields] = [
                [.actor: "mallory"], .actor("mallory", signedWith: String(repeating: "x", count: 32)),
                [.actor: "mallory", ActorVoucher.signatureField: stale],
            ]
            for (index, forged) in forgeries.enumerated() {
                try await registry.api.patch(
                    "/api/registered-models/recs", #"{"description": "forged \#(index)"}"#, headers: forged, expect: .ok)
                let event = try await Self.last(registry, "recs")
                #expect(try RegisteredModelUpdated(serializedBytes: event.payload).descriptionText == "forged \(index)")
                #expect(event.actor == "internal", "\(forged)")
            }
            let longest = String(repeating: "b", count: 128)
            try await registry.api.patch("/api/registered-models/recs", #"{"description": "128"}"#, headers: .actor(longest), expect: .ok)
            #expect(try await Self.last(registry, "recs").actor == longest)

            // What `slipway events show` reads shows it too.
            let shown = try await registry.api.get("/internal/events?aggregate_id=recs&format=json", expect: .ok).jsonArray()
            #expect(shown.compactMap { ($0 as? [String: Any])?["actor"] as? String }.first == "alice", "\(shown)")

            // A timeline's read: the newest events of several aggregates of one type, newest first, at most `limit`.
            try await registry.api.post("/api/registered-models", #"{"name": "ranker", "model_type": "ranking"}"#, expect: .created)
            let newest = try await registry.api.get(
                "/internal/events?newest_first=true&aggregate_type=RegisteredModel&aggregate_id=recs&aggregate_id=ranker&aggregate_id=none"
                    + "&limit=3&format=json", expect: .ok
            ).jsonArray().compactMap { $0 as? [String: Any] }
            #expect(newest.map { $0["aggregate_id"] as? String } == ["ranker", "recs", "recs"], "\(newest)")
            #expect(newest.last?["version"] as? Int == shown.count - 1, "recs's newest two, after ranker's only one")
            try await registry.api.get("/internal/events?newest_first=true&aggregate_id=recs", expect: .badRequest)
            // A page further back: the events that occurred before an instant.
            let newestAt = try #require(newest.first?["occurred_at"] as? String)
            let before = try await registry.api.get(
                "/internal/events?newest_first=true&aggregate_type=RegisteredModel&aggregate_id=ranker&before=\(newestAt)&format=json",
                expect: .ok
            ).jsonArray()
            #expect(before.isEmpty, "ranker's only event is not before itself: \(before)")
            try await registry.api.get(
                "/internal/events?newest_first=true&aggregate_type=RegisteredModel&aggregate_id=recs&before=yesterday", expect: .badRequest)
        }
    }

    @Test("a reaction acts for whoever caused its cause; for a cause that names nobody, registry-svc")
    func reactionsCarryTheCausesActor() async throws {
        try await withRegistry { registry in
            var feed = EventFeedBuilder(service: "training")
            feed.actor = "alice"
            let byAlice = try feed.envelope(
                TrainingEvents.created(runID: "run-1", model: "recs", runNumber: 1), aggregateType: "TrainingRun", aggregateID: "run-1")
            feed.actor = ""
            let byNobody = try feed.envelope(
                TrainingEvents.created(runID: "run-2", model: "ranker", runNumber: 1), aggregateType: "TrainingRun", aggregateID: "run-2")
            try await registry.apply([byAlice, byNobody], to: registry.training)

            let recs = try await Self.last(registry, "recs")
            #expect(recs.actor == "alice" && recs.causationID == byAlice.eventID && recs.correlationID == byAlice.correlationID)
            #expect(try await Self.last(registry, "ranker").actor == "registry-svc")
        }
    }
}
