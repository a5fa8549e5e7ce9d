import Foundation

/// Runs a short external command to completion (initdb, pg_ctl, chown, useradd, psql).
///
/// Output goes to a temporary file, not a pipe: `pg_ctl start` leaves a daemon behind, and a
/// daemon that inherited a pipe would keep it open forever, so reading a pipe to EOF would hang.
struct CommandRunner: Sendable {
  /// When set, commands run through `runuser -u USER --` (used when we are root).
  var runAsUser: String?

  struct Result: Sendable {
    var status: Int32
    var output: String
  }

  /// Runs the command and returns its status and combined stdout/stderr.
  func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> Result {
    let process = Process()
    if let user = runAsUser {
      process.executableURL = URL(fileURLWithPath: Self.runuserPath)
      process.arguments = ["-u", user, "--", executable] + arguments
    } else {
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = arguments
    }
    if let environment { process.environment = environment }
    process.currentDirectoryURL = URL(fileURLWithPath: "/")
    let outputURL = FileManager.default.temporaryDirectory
      .appendingPathComponent("slipway-cmd-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outputURL) }
    let handle = try FileHandle(forWritingTo: outputURL)
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice

    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
      process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
      do {
        try process.run()
      } catch {
        process.terminationHandler = nil
        continuation.resume(throwing: error)
      }
    }
    try? handle.close()
    let output = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
    return Result(status: status, output: output)
  }

  /// Runs the command and throws `LocalRuntimeError.commandFailed` on a non-zero status.
  @discardableResult
  func check(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> String {
    let result = try await run(executable, arguments, environment: environment)
    guard result.status == 0 else {
      let shown = ([runAsUser.map { "runuser -u \($0) --" }, executable] + arguments.map(Optional.some))
        .compactMap { $0 }.joined(separator: " ")
      throw LocalRuntimeError.commandFailed(command: shown, status: result.status, output: result.output)
    }
    return result.output
  }

  static var runuserPath: String {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first {
      FileManager.default.isExecutableFile(atPath: $0)
    } ?? "/usr/sbin/runuser"
  }
}
