import Foundation
import RegistryCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

/// Given earlier events (made by commands, so each test reads as a story), when a command, then events
/// or a rejection.
@Suite("RegisteredModel decider")
struct RegisteredModelDeciderTests {
    typealias Decider = RegisteredModelDecider

    /// The history the commands make, then the last command's events and the state after it.
    @discardableResult
    func given(_ commands: [Decider.Command], _ earlier: [RegistryEvent] = []) throws -> (
        state: Decider.State, events: [RegistryEvent], history: [RegistryEvent]
    ) {
        let history = earlier + (try SlipwayTestSupport.history(Decider.self, Array(commands.dropLast()), after: earlier))
        guard let last = commands.last else { return (Decider.fold(history), [], history) }
        let events = try decide(Decider.self, given: history, when: last)
        return (Decider.fold(history + events), events, history + events)
    }

    func rejection(_ command: Decider.Command, after commands: [Decider.Command] = [], sourceLocation: SourceLocation = #_sourceLocation) throws
        -> CommandRejected?
    {
        let history = try SlipwayTestSupport.history(Decider.self, commands)
        do {
            _ = try decide(Decider.self, given: history, when: command)
            return nil
        } catch let rejected as CommandRejected {
            return rejected
        }
    }

    static let create = Decider.Command.create(.init(name: "recs", modelType: .retrieval, description: "two towers", createdBy: "alice"))

    static func run(_ id: String, blessed: Bool = true, model: String = "recs", type: ModelType = .retrieval) -> Decider.CompletedRun {
        Decider.CompletedRun(
            modelName: model, modelType: type, runID: id, runNumber: 1, artifactURI: "file:///a/\(id)", metrics: ["recall_at_100": 0.4],
            blessed: blessed, datasetID: "ds", featureConfigID: "fc", modelConfigID: "mc", scheduleID: "", artifacts: ["schema": "file:///s"])
    }

    static func register(_ id: String, blessed: Bool = true, force: Bool = false, versionID: String? = nil) -> Decider.Command {
        .registerVersion(run(id, blessed: blessed), versionID: versionID ?? "ver-\(id)", force: force)
    }

    // MARK: Create

    @Test("create emits RegisteredModelCreated with the model's identity")
    func create() throws {
        let events = try given([Self.create]).events
        guard case .registeredModelCreated(let created)? = events.first, events.count == 1 else { Issue.record("got \(events)"); return }
        #expect(created.name == "recs")
        #expect(created.modelID == "recs")
        #expect(created.modelType == .retrieval)
        #expect(created.descriptionText == "two towers")
        #expect(created.createdBy == "alice")
    }

    @Test("creating an existing name is a conflict on the name")
    func duplicate() throws {
        let rejected = try rejection(Self.create, after: [Self.create])
        #expect(rejected?.kind == .conflict)
        #expect(rejected?.field == "name")
    }

    @Test(
        "malformed names are rejected naming the field",
        arguments: [
            "", "Recs", "1recs", "-recs", "_recs", "re cs", "re.cs", "re/cs", "récs", String(repeating: "a", count: 64), "check-name",
        ])
    func badName(_ name: String) throws {
        let rejected = try rejection(.create(.init(name: name, modelType: .ranking, createdBy: "t")))
        #expect(rejected?.kind == .invalid)
        #expect(rejected?.field == "name")
    }

    @Test("well-formed names are accepted", arguments: ["a", "recs", "recs-v2_final", "m0", String(repeating: "a", count: 63)])
    func goodName(_ name: String) throws {
        #expect(try given([.create(.init(name: name, modelType: .multitask, createdBy: "t"))]).state.name == name)
    }

    @Test("a model needs a known type")
    func unknownType() throws {
        let rejected = try rejection(.create(.init(name: "recs", modelType: .unspecified, createdBy: "t")))
        #expect(rejected?.field == "model_type")
        #expect(rejected?.kind == .invalid)
    }

    @Test("ensureExists creates once, then does nothing")
    func ensureExists() throws {
        let model = Decider.NewModel(name: "recs", modelType: .retrieval, createdBy: "t")
        #expect(try given([.ensureExists(model)]).events.count == 1)
        #expect(try given([.ensureExists(model), .ensureExists(model)]).events.isEmpty)
        #expect(try given([Self.create, .ensureExists(model)]).events.isEmpty)
    }

    // MARK: Versions

    @Test("registering runs numbers versions 1, 2, ... and links each to its parent")
    func numbering() throws {
        let (state, events, _) = try given([Self.create, Self.register("r1"), Self.register("r2")])
        guard case .modelVersionRegistered(let v2)? = events.first, events.count == 1 else { Issue.record("got \(events)"); return }
        #expect(v2.versionNumber == 2)
        #expect(v2.versionID == "ver-r2")
        #expect(v2.sourceRunID == "r2")
        #expect(v2.lineage.parentVersionID == "ver-r1")
        #expect(v2.lineage.datasetID == "ds")
        #expect(v2.lineage.artifacts == ["schema": "file:///s"])
        #expect(v2.metrics == ["recall_at_100": 0.4])
        #expect(v2.modelType == .retrieval)
        #expect(state.versions.map(\.number) == [1, 2])
    }

    @Test("the first registration of an unknown model creates it first")
    func registerCreates() throws {
        let events = try given([Self.register("r1")]).events
        #expect(events.count == 2)
        guard case .registeredModelCreated(let created)? = events.first, case .modelVersionRegistered(let v1)? = events.last else {
            Issue.record("got \(events)"); return
        }
        #expect(created.name == "recs")
        #expect(v1.versionNumber == 1)
        #expect(v1.lineage.parentVersionID == "")
    }

    @Test("registering the same source run again yields no events, even with force")
    func idempotentRegistration() throws {
        #expect(try given([Self.register("r1"), Self.register("r1", versionID: "other")]).events.isEmpty)
        #expect(try given([Self.register("r1"), Self.register("r1", force: true)]).events.isEmpty)
        #expect(try given([Self.register("r1", blessed: false, force: true), Self.register("r1", blessed: false)]).events.isEmpty)
    }

    @Test("a not-blessed run is rejected unless forced")
    func notBlessed() throws {
        let rejected = try rejection(Self.register("r1", blessed: false), after: [Self.create])
        #expect(rejected?.kind == .conflict)
        #expect(rejected?.message.contains("run is not blessed") == true)
        let events = try given([Self.create, Self.register("r1", blessed: false, force: true)]).events
        guard case .modelVersionRegistered(let v1)? = events.first else { Issue.record("got \(events)"); return }
        #expect(v1.blessed == false)
        #expect(v1.versionNumber == 1)
    }

    @Test("a run of another model type does not become a version")
    func typeMismatch() throws {
        let command = Decider.Command.registerVersion(Self.run("r1", type: .ranking), versionID: "v", force: false)
        let rejected = try rejection(command, after: [Self.create])
        #expect(rejected?.kind == .conflict)
        #expect(rejected?.field == "model_type")
    }

    @Test("a registration needs an artifact")
    func noArtifact() throws {
        var run = Self.run("r1")
        run.artifactURI = ""
        #expect(try rejection(.registerVersion(run, versionID: "v", force: false))?.field == "artifact_uri")
    }

    // MARK: Aliases

    @Test("an alias is set, moved (remembering the previous version) and deleted")
    func aliases() throws {
        let history: [Decider.Command] = [Self.create, Self.register("r1"), Self.register("r2")]
        let set = try given(history + [.setAlias(alias: "champion", versionNumber: 1, setBy: "bob")])
        guard case .modelAliasSet(let first)? = set.events.first else { Issue.record("got \(set.events)"); return }
        #expect(first.versionID == "ver-r1")
        #expect(first.previousVersionID == "")
        #expect(set.state.aliases == ["champion": 1])

        let moved = try given([.setAlias(alias: "champion", versionNumber: 2, setBy: "bob")], set.history)
        guard case .modelAliasSet(let move)? = moved.events.first else { Issue.record("got \(moved.events)"); return }
        #expect(move.versionNumber == 2)
        #expect(move.previousVersionID == "ver-r1")

        #expect(try given([.setAlias(alias: "champion", versionNumber: 2, setBy: "bob")], moved.history).events.isEmpty)

        let deleted = try given([.deleteAlias(alias: "champion", deletedBy: "bob")], moved.history)
        guard case .modelAliasDeleted(let removal)? = deleted.events.first else { Issue.record("got \(deleted.events)"); return }
        #expect(removal.versionID == "ver-r2")
        #expect(deleted.state.aliases.isEmpty)
    }

    @Test("alias names follow the name rules and may not look like a version", arguments: ["", "v1", "v12", "Champion", "1st", "a b"])
    func badAlias(_ alias: String) throws {
        let rejected = try rejection(.setAlias(alias: alias, versionNumber: 1, setBy: ""), after: [Self.create, Self.register("r1")])
        #expect(rejected?.kind == .invalid)
        #expect(rejected?.field == "alias")
    }

    @Test("aliases like 'v' or 'v1-rc' are fine", arguments: ["v", "v1-rc", "vx", "champion", "prod_2"])
    func goodAlias(_ alias: String) throws {
        #expect(try given([Self.create, Self.register("r1"), .setAlias(alias: alias, versionNumber: 1, setBy: "")]).state.aliases[alias] == 1)
    }

    @Test("an alias to an unknown version, or of an unknown model, is not found")
    func aliasNotFound() throws {
        let unknownVersion = try rejection(.setAlias(alias: "champion", versionNumber: 3, setBy: ""), after: [Self.create, Self.register("r1")])
        #expect(unknownVersion?.kind == .notFound)
        #expect(unknownVersion?.field == "version")
        #expect(try rejection(.setAlias(alias: "champion", versionNumber: 1, setBy: ""))?.kind == .notFound)
        let missingAlias = try rejection(.deleteAlias(alias: "champion", deletedBy: ""), after: [Self.create])
        #expect(missingAlias?.kind == .notFound)
        #expect(missingAlias?.field == "alias")
    }

    // MARK: Update

    @Test("update records only what changed")
    func update() throws {
        let events = try given([Self.create, .update(.init(description: "new", tags: ["team": "recs"], updatedBy: "t"))]).events
        guard case .registeredModelUpdated(let updated)? = events.first else { Issue.record("got \(events)"); return }
        #expect(updated.updatedFields == ["description", "tags"])
        #expect(updated.descriptionText == "new")
        #expect(updated.tags == ["team": "recs"])

        let tagsOnly = try given([Self.create, .update(.init(tags: ["a": "b"], updatedBy: "t"))])
        guard case .registeredModelUpdated(let second)? = tagsOnly.events.first else { Issue.record("got \(tagsOnly.events)"); return }
        #expect(second.updatedFields == ["tags"])
        #expect(tagsOnly.state.description == "two towers")

        #expect(try given([Self.create, .update(.init(description: "two towers", updatedBy: "t"))]).events.isEmpty)
        #expect(try rejection(.update(.init(updatedBy: "t")), after: [Self.create])?.kind == .invalid)
        #expect(try rejection(.update(.init(description: "x", updatedBy: "t")))?.kind == .notFound)
    }

    // MARK: Version labels

    @Test(
        "versions are written as 3 or v3",
        arguments: [("3", Int32(3)), ("v3", 3), ("v12", 12), ("0", nil), ("v0", nil), ("v", nil), ("x3", nil), ("-1", nil), ("+3", nil), ("", nil)]
            as [(String, Int32?)])
    func parseVersion(_ text: String, _ expected: Int32?) {
        #expect(RegistryNames.parseVersion(text) == expected)
    }
}
