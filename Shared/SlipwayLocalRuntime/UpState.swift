import Foundation

/// The contents of `.slipway/up.json`: what `slipway up` is running, for `status` and `down`.
public struct UpState: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case starting, running, stopping, stopped
    }

    public struct ProcessEntry: Codable, Sendable, Equatable {
        public var name: String
        public var executable: String
        /// `nil` while the process is not running (crashed and waiting to restart, or stopped).
        public var pid: Int32?
        /// Linux start time of `pid` in clock ticks, to tell it from a later process reusing the pid.
        public var startTicks: UInt64?
        public var readinessURL: String?
        public var readinessFile: String?
        public var logPath: String
        public var restarts: Int

        public init(
            name: String, executable: String, pid: Int32?, startTicks: UInt64?, readinessURL: String?,
            readinessFile: String?, logPath: String, restarts: Int
        ) {
            self.name = name
            self.executable = executable
            self.pid = pid
            self.startTicks = startTicks
            self.readinessURL = readinessURL
            self.readinessFile = readinessFile
            self.logPath = logPath
            self.restarts = restarts
        }
    }

    public var status: Status
    public var supervisorPID: Int32
    public var supervisorStartTicks: UInt64?
    public var startedAt: Date
    public var stoppedAt: Date?
    /// In start order.
    public var processes: [ProcessEntry]

    public init(
        status: Status, supervisorPID: Int32, supervisorStartTicks: UInt64?, startedAt: Date, stoppedAt: Date? = nil,
        processes: [ProcessEntry]
    ) {
        self.status = status
        self.supervisorPID = supervisorPID
        self.supervisorStartTicks = supervisorStartTicks
        self.startedAt = startedAt
        self.stoppedAt = stoppedAt
        self.processes = processes
    }

    /// Whether the supervisor that wrote this file is still alive (and is the same process).
    public var isSupervisorAlive: Bool {
        status != .stopped && ProcessInspection.isSameProcess(supervisorPID, startTicks: supervisorStartTicks)
    }

    public static func read(from url: URL) throws -> UpState {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw LocalRuntimeError.notRunning(stateFile: url.path)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(UpState.self, from: data)
    }

    /// Writes atomically (temporary file + rename), so a reader never sees half a file.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}
