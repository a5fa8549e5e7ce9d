import Foundation
import SlipwayContracts
import SwiftProtobuf
import Testing

/// Binary and JSON round trips of representative events, including maps, oneofs, optionals,
/// enums, nested messages and timestamps.
@Suite("Event round trips")
struct EventRoundTripTests {
    func assertRoundTrips<M: SwiftProtobuf.Message & Equatable>(_ message: M) throws {
        let bytes: [UInt8] = try message.serializedBytes()
        #expect(try M(serializedBytes: bytes) == message)
        #expect(try M(jsonString: message.jsonString()) == message)
        // And through the catalog, as a consumer that only knows the type name would.
        let viaCatalog = try #require(try EventCatalog.decode(typeName: M.protoMessageName, payload: bytes))
        #expect(viaCatalog as? M == message)
    }

    @Test func trainingRunCreatedWithSchedule() throws {
        var event = TrainingRunCreated()
        event.runID = "run-1"
        event.runNumber = 7
        event.scheduleID = "sched-1"
        event.scheduleSlot = Google_Protobuf_Timestamp(seconds: 1_800_000_000)
        event.config.gpuConfig.gpuType = "NVIDIA_L4"
        event.config.gpuConfig.gpuCount = 2
        event.config.trainingParams.extra = ["temperature": "0.05"]
        event.config.deploymentConfig.enabled = true
        event.config.deploymentConfig.preset = .production
        event.config.deploymentConfig.resources.maxInstances = 10
        #expect(event.hasScheduleID)
        try assertRoundTrips(event)

        let json = try #require(
            try EventCatalog.decodeJSON(
                typeName: TrainingRunCreated.protoMessageName, payload: event.serializedBytes()))
        #expect(json.contains("\"scheduleId\":\"sched-1\""))
        #expect(json.contains("\"preset\":\"ENDPOINT_PRESET_PRODUCTION\""))
    }

    @Test func optionalEmptyScheduleIdIsStillPresent() throws {
        var event = TrainingRunFailed()
        event.scheduleID = ""
        let decoded = try TrainingRunFailed(serializedBytes: event.serializedBytes() as [UInt8])
        #expect(decoded.hasScheduleID)
        #expect(!TrainingRunFailed().hasScheduleID)
    }

    @Test func epochCompletedRecallMap() throws {
        var event = EpochCompleted()
        event.runID = "run-1"
        event.epoch = 3
        event.totalEpochs = 10
        event.loss = 1.25
        event.valLoss = 1.5
        event.recallAtK = [5: 0.05, 10: 0.09, 50: 0.21, 100: 0.31]
        try assertRoundTrips(event)
        let json = try event.jsonString(options: EventCatalog.defaultJSONOptions)
        #expect(json.contains("\"recallAtK\":{\"5\":0.05,\"10\":0.09,\"50\":0.21,\"100\":0.31}"))
    }

    @Test func stageEventsUseStageEnum() throws {
        var started = StageStarted()
        started.stage = .evaluate
        started.attempt = 1
        try assertRoundTrips(started)
        #expect(TrainingStage.compile.rawValue == 1)
        #expect(TrainingStage.deploy.rawValue == 9)
        #expect(try started.jsonString().contains("TRAINING_STAGE_EVALUATE"))

        var completed = StageCompleted()
        completed.stage = .stats
        completed.artifacts = ["statistics": "file:///artifacts/run-1/stats.json"]
        completed.metrics = ["rows": 10_000]
        try assertRoundTrips(completed)
    }

    @Test func trainingRunCompleted() throws {
        var event = TrainingRunCompleted()
        event.runID = "run-1"
        event.metrics = ["recall_at_100": 0.31, "loss": 0.9]
        event.blessed = true
        event.artifactUri = "file:///artifacts/run-1/bundle"
        event.durationMs = 93_000
        event.modelType = .retrieval
        try assertRoundTrips(event)
    }

    @Test func gradualDeploymentRequested() throws {
        var gate = RolloutGate()
        gate.kind = .errorRate
        gate.threshold = 0.01
        var step = RolloutStep()
        step.trafficPercent = 10
        step.minDurationSeconds = 300
        step.gates = [gate]
        var event = DeploymentRequested()
        event.deploymentID = "dep-1"
        event.endpointID = "ep-1"
        event.modelVersionID = "mv-3"
        event.versionNumber = 3
        event.strategy = .gradual
        event.steps = [step, RolloutStep.with { $0.trafficPercent = 100 }]
        event.force = true
        try assertRoundTrips(event)
    }

    @Test func trafficShiftedSplit() throws {
        var event = TrafficShifted()
        event.endpointID = "ep-1"
        event.traffic = ["rev-a": 90, "rev-b": 10]
        event.revisionVersions = ["rev-a": "mv-2", "rev-b": "mv-3"]
        event.reason = .manualSplit
        try assertRoundTrips(event)
        #expect(event.traffic.values.reduce(0, +) == 100)
    }

    @Test func apiKeyCreatedCarriesOnlyTheHash() throws {
        var event = ApiKeyCreated()
        event.apiKeyID = "key-1"
        event.keyPrefix = "sk_abcde"
        event.keySha256 = String(repeating: "ab", count: 32)
        try assertRoundTrips(event)
    }

    @Test func predictionRequestLoggedWithFeatureValues() throws {
        var row = FeatureRow()
        row.features = [
            "customer_id": .with { $0.stringValue = "c-17" },
            "age": .with { $0.int64Value = 41 },
            "avg_basket": .with { $0.doubleValue = 52.5 },
            "is_member": .with { $0.boolValue = true },
            "recent_categories": .with { $0.stringList = .with { $0.values = ["shoes", "bags"] } },
        ]
        var event = PredictionRequestLogged()
        event.requestID = "req-1"
        event.endpointID = "ep-1"
        event.api = .recommend
        event.latencyUs = 950
        event.statusCode = 200
        event.customerID = "c-17"
        event.topK = 10
        event.instanceCount = 1
        event.instances = [row]
        event.receivedAt = Google_Protobuf_Timestamp(seconds: 1_800_000_000, nanos: 5_000)
        try assertRoundTrips(event)

        let decoded = try PredictionRequestLogged(serializedBytes: event.serializedBytes() as [UInt8])
        guard case .int64Value(let age)? = decoded.instances.first?.features["age"]?.kind else {
            Issue.record("age should decode as int64")
            return
        }
        #expect(age == 41)
    }

    @Test func endpointTestCompleted() throws {
        var event = EndpointTestCompleted()
        event.testID = "t-1"
        event.passed = false
        event.checks = [
            .with {
                $0.kind = .health; $0.status = .passed
            },
            .with {
                $0.kind = .validation; $0.status = .failed; $0.message = "scores not sorted"
            },
        ]
        event.latency = .with {
            $0.count = 50; $0.p50Ms = 1.2; $0.p95Ms = 3.4; $0.p99Ms = 7.5
        }
        event.validationIssues = ["scores not sorted"]
        try assertRoundTrips(event)
    }

    @Test func driftDetectedPerFeature() throws {
        var event = DriftDetected()
        event.reportID = "dr-1"
        event.driftDetected = true
        event.severity = .high
        event.features = [
            .with {
                $0.feature = "age"; $0.numeric = true; $0.psi = 0.31; $0.ksStatistic = 0.2; $0.severity = .high
            },
            .with {
                $0.feature = "country"; $0.psi = 0.02; $0.severity = .none
            },
        ]
        try assertRoundTrips(event)
    }

    @Test func scheduleCreatedFreezesTrainingConfig() throws {
        var config = TrainingRunConfig()
        config.datasetID = "ds-1"
        config.trainingParams.epochs = 20
        var event = ScheduleCreated()
        event.scheduleID = "s-1"
        event.timing = .with {
            $0.type = .weekly
            $0.hour = 9
            $0.minute = 0
            $0.dayOfWeek = 0
            $0.timezone = "Europe/Warsaw"
        }
        event.trainingConfig = try config.serializedData()
        try assertRoundTrips(event)
        let decoded = try ScheduleCreated(serializedBytes: event.serializedBytes() as [UInt8])
        #expect(try TrainingRunConfig(serializedBytes: decoded.trainingConfig) == config)
    }

    @Test func invalidBytesThrow() {
        // Field 1 declared as a length-delimited string of 10 bytes, but only 1 byte follows.
        let truncated: [UInt8] = [0x0A, 0x0A, 0x41]
        #expect(throws: (any Error).self) {
            _ = try EventCatalog.decodeJSON(typeName: TrainingRunCreated.protoMessageName, payload: truncated)
        }
    }
}
