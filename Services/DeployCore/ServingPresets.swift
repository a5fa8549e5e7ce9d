import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// The deploy dialog's presets (spec: Development / Production / High Traffic) and field overrides.
public enum ServingPresets {
    public static func resources(for preset: EndpointPreset) -> ServingResources {
        var resources = ServingResources()
        resources.timeoutSeconds = 300
        switch preset {
        case .development: (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (0, 2, "2Gi", "1")
        case .highTraffic: (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (2, 50, "8Gi", "4")
        default: (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (1, 10, "4Gi", "2")
        }
        return resources
    }

    public static func preset(named name: String) -> EndpointPreset? {
        switch name.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "development", "dev": .development
        case "production", "prod": .production
        case "high-traffic", "hightraffic": .highTraffic
        case "custom": .custom
        default: nil
        }
    }

    public static func name(of preset: EndpointPreset) -> String {
        switch preset {
        case .development: "development"
        case .highTraffic: "high_traffic"
        case .custom: "custom"
        default: "production"
        }
    }

    /// Overrides on top of a preset. Memory and cpu are Kubernetes quantities ("4Gi", "512Mi"; "2", "500m").
    public struct Overrides: Sendable, Equatable {
        public var minInstances: Int32?
        public var maxInstances: Int32?
        public var memory: String?
        public var cpu: String?
        public var timeoutSeconds: Int32?
        public var maxBatchSize: Int32?

        public init() {}

        public var isEmpty: Bool {
            [minInstances, maxInstances, timeoutSeconds, maxBatchSize].allSatisfy { $0 == nil } && memory == nil && cpu == nil
        }
    }

    /// The preset's resources with the overrides applied, checked; errors name the field.
    public static func resolve(preset: EndpointPreset, overrides: Overrides) throws -> ServingResources {
        try resolve(base: resources(for: preset), overrides: overrides)
    }

    /// `base` (a preset's or an endpoint's current resources) with the overrides applied, checked.
    public static func resolve(base: ServingResources, overrides: Overrides) throws -> ServingResources {
        var resources = base
        if let value = overrides.minInstances { resources.minInstances = value }
        if let value = overrides.maxInstances { resources.maxInstances = value }
        if let value = overrides.memory { resources.memory = value }
        if let value = overrides.cpu { resources.cpu = value }
        if let value = overrides.timeoutSeconds { resources.timeoutSeconds = value }
        if let value = overrides.maxBatchSize { resources.maxBatchSize = value }
        guard (0...1000).contains(resources.minInstances) else { throw CommandRejected(.invalid, field: "min_instances", "must be 0 to 1000") }
        guard (1...1000).contains(resources.maxInstances) else { throw CommandRejected(.invalid, field: "max_instances", "must be 1 to 1000") }
        guard resources.minInstances <= resources.maxInstances else {
            throw CommandRejected(.invalid, field: "min_instances", "must not exceed max_instances (\(resources.maxInstances))")
        }
        guard resources.memory.wholeMatch(of: /[1-9][0-9]*(Mi|Gi)/) != nil else {
            throw CommandRejected(.invalid, field: "memory", "must be a quantity such as 512Mi or 4Gi")
        }
        guard resources.cpu.wholeMatch(of: /([1-9][0-9]*m|[0-9]+(\.[0-9]+)?)/) != nil, resources.cpu != "0" else {
            throw CommandRejected(.invalid, field: "cpu", "must be a quantity such as 500m, 1 or 2")
        }
        guard (1...3600).contains(resources.timeoutSeconds) else { throw CommandRejected(.invalid, field: "timeout", "must be 1 to 3600 seconds") }
        guard (0...1000).contains(resources.maxBatchSize) else { throw CommandRejected(.invalid, field: "max_batch_size", "must be 0 to 1000") }
        return resources
    }
}
