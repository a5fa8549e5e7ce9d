import Foundation

/// Reads settings with one precedence everywhere: command line (`--name value` or `--name=value`),
/// then the environment (`SLIPWAY_NAME`), then the caller's default.
public struct ConfigReader: Sendable {
    let arguments: [String]
    let environment: [String: String]

    public init(arguments: [String] = CommandLine.arguments, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.arguments = arguments
        self.environment = environment
    }

    public static func environmentName(_ key: String) -> String {
        "SLIPWAY_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Every value given for `key` on the command line, else the environment's one.
    public func strings(_ key: String) -> [String] {
        var values: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--\(key)", index + 1 < arguments.endIndex {
                values.append(arguments[index + 1])
                index += 2
                continue
            }
            if argument.hasPrefix("--\(key)=") {
                values.append(String(argument.dropFirst(key.count + 3)))
            }
            index += 1
        }
        if values.isEmpty, let value = environment[Self.environmentName(key)], !value.isEmpty {
            values.append(value)
        }
        return values
    }

    public func string(_ key: String) -> String? { strings(key).last }

    public func string(_ key: String, default value: String) -> String { string(key) ?? value }

    public func int(_ key: String, default value: Int) throws -> Int {
        guard let text = string(key) else { return value }
        guard let number = Int(text) else { throw ConfigError(key: key, message: "expected a whole number, got '\(text)'") }
        return number
    }

    /// `true` or `false`.
    public func bool(_ key: String, default value: Bool) throws -> Bool {
        switch string(key) {
        case nil: return value
        case "true": return true
        case "false": return false
        case let text?: throw ConfigError(key: key, message: "expected true or false, got '\(text)'")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let key: String
    public let message: String
    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { "configuration --\(key) (\(ConfigReader.environmentName(key))): \(message)" }
}
