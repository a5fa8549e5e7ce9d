import Foundation

/// Finds an executable: first next to the running binary (so `slipway up` finds the service
/// executables built beside it in `.build/debug`), then in each directory of `PATH`.
///
/// - Parameters:
///   - name: a bare name (`"training-svc"`) or a path containing `/`, returned as-is when executable.
///   - extraDirectories: searched after the binary's directory and before `PATH`.
/// - Returns: the executable's URL, or `nil` when none was found.
public func findExecutable(named name: String, extraDirectories: [URL] = []) -> URL? {
    let fileManager = FileManager.default
    if name.contains("/") {
        return fileManager.isExecutableFile(atPath: name) ? URL(fileURLWithPath: name) : nil
    }
    var directories: [URL] = []
    if let executable = Bundle.main.executableURL {
        directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
    }
    if let argument0 = CommandLine.arguments.first, argument0.contains("/") {
        let url = URL(fileURLWithPath: argument0, relativeTo: URL(fileURLWithPath: fileManager.currentDirectoryPath))
        directories.append(url.standardizedFileURL.deletingLastPathComponent())
    }
    directories += extraDirectories
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    directories += path.split(separator: ":").map { URL(fileURLWithPath: String($0)) }

    var seen = Set<String>()
    for directory in directories where seen.insert(directory.path).inserted {
        let candidate = directory.appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
            fileManager.isExecutableFile(atPath: candidate.path)
        {
            return candidate
        }
    }
    return nil
}
