import Foundation
import SlipwayPlatform

/// The gateway's settings beyond a service's.
public struct GatewaySettings: Sendable {
    public var maxBodyBytes: Int
    /// Reads without a token (`--anonymous-reads true`): the operator's opt-out for a local demo.
    public var anonymousReads: Bool
    /// Where the first start writes the first admin's token (`--bootstrap-token-file`); nil: no admin is made.
    public var bootstrapTokenFile: URL?
    /// How often token usage is recorded (`ApiTokenUsed`).
    public var usageReportInterval: Duration

    public init(
        maxBodyBytes: Int = 64 * 1024 * 1024, anonymousReads: Bool = false, bootstrapTokenFile: URL? = nil,
        usageReportInterval: Duration = .seconds(60)
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.anonymousReads = anonymousReads
        self.bootstrapTokenFile = bootstrapTokenFile
        self.usageReportInterval = usageReportInterval
    }

    public static func load(reader: ConfigReader) throws -> GatewaySettings {
        GatewaySettings(
            maxBodyBytes: try reader.int("max-body-bytes", default: 64 * 1024 * 1024),
            anonymousReads: try reader.bool("anonymous-reads", default: false),
            bootstrapTokenFile: reader.string("bootstrap-token-file").map { URL(fileURLWithPath: $0).standardizedFileURL })
    }
}
