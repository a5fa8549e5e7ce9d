import SlipwayEventSourcing

/// Ids of datasets, configs and model names: what a URL segment and a Kubernetes name can both hold.
enum TrainingNames {
    static func validate(_ value: String, field: String) throws {
        guard (1...63).contains(value.count) else {
            throw CommandRejected(.invalid, field: field, "\(field) must be 1 to 63 characters")
        }
        let allowed = value.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
        guard allowed, let first = value.unicodeScalars.first, ("a"..."z").contains(first) else {
            throw CommandRejected(
                .invalid, field: field, "\(field) '\(value)' must start with a lowercase letter and hold only lowercase letters, digits, '-' and '_'")
        }
    }
}
