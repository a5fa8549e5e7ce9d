import Foundation

/// A loaded model bundle (see NOTES.md "Bundle format" for the on-disk layout).
public struct ModelBundle: Sendable {
    public var manifest: Manifest
    public var preprocessing: Preprocessing
    /// Query tower tensors: `embedding/<feature>` [rows, dim], `dense_<i>/kernel` [in, out], `dense_<i>/bias` [out].
    public var queryTower: [String: Tensor]
    /// Candidate tower tensors (same naming), optional; serving does not need them.
    public var candidateTower: [String: Tensor]?
    /// Precomputed candidate embeddings, N×D row-major contiguous.
    public var candidateEmbeddings: [Float]
    /// ORIGINAL product ids, row i ↔ `candidateEmbeddings[i*D..<(i+1)*D]`.
    public var candidateIds: [String]
    /// Train-split interaction count per candidate (row order of `candidateIds`); present exactly when
    /// `manifest.coldStart` is, so a bundle says in one place whether it can answer a cold query by popularity.
    public var candidatePopularity: [Float]?

    /// The one tensor of the popularity file.
    static let popularityTensor = "train_interactions"

    public init(
        manifest: Manifest, preprocessing: Preprocessing, queryTower: [String: Tensor],
        candidateTower: [String: Tensor]? = nil, candidateEmbeddings: [Float], candidateIds: [String],
        candidatePopularity: [Float]? = nil
    ) {
        self.manifest = manifest; self.preprocessing = preprocessing; self.queryTower = queryTower
        self.candidateTower = candidateTower; self.candidateEmbeddings = candidateEmbeddings; self.candidateIds = candidateIds
        self.candidatePopularity = candidatePopularity
    }

    /// This bundle answering cold queries with the candidates most interacted with in the train split;
    /// `trainInteractions[i]` counts `candidateIds[i]`.
    public func withPopularityFallback(trainInteractions: [Double]) -> ModelBundle {
        var bundle = self
        bundle.manifest.coldStart = Manifest.ColdStart(policy: .popularity)
        bundle.candidatePopularity = trainInteractions.map(Float.init)
        return bundle
    }

    static func readBytes(_ url: URL) throws(BundleError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .missingFile(path: url.path) }
        do { return Array(try Data(contentsOf: url)) } catch {
            throw .corruptFile(path: url.path, reason: "unreadable: \(error.localizedDescription)")
        }
    }

    static func decodeJSON<T: Decodable>(_ type: T.Type, _ url: URL) throws(BundleError) -> T {
        let bytes = try readBytes(url)
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch let e as DecodingError {
            throw .invalidManifest(path: url.path, reason: describe(e))
        } catch {
            throw .invalidManifest(path: url.path, reason: "\(error)")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .keyNotFound(let k, let c): return "missing key '\(k.stringValue)' at '\(path(c))'"
        case .typeMismatch(_, let c): return "wrong type at '\(path(c))': \(c.debugDescription)"
        case .valueNotFound(_, let c): return "null value at '\(path(c))'"
        case .dataCorrupted(let c): return "malformed JSON at '\(path(c))': \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    /// Loads and validates a bundle directory. Errors name the file at fault.
    public static func load(from directory: URL) throws(BundleError) -> ModelBundle {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw .notADirectory(path: directory.path)
        }
        let manifestURL = directory.appendingPathComponent("manifest.json")
        let manifest = try decodeJSON(Manifest.self, manifestURL)
        guard manifest.formatVersion == Manifest.currentFormatVersion else {
            throw .unsupportedFormatVersion(found: manifest.formatVersion, supported: Manifest.currentFormatVersion)
        }
        let pre = try decodeJSON(Preprocessing.self, directory.appendingPathComponent(manifest.preprocessingFile))
        guard let qFile = manifest.queryTower.weightsFile else {
            throw .invalidManifest(path: manifestURL.path, reason: "query_tower.weights_file is required")
        }
        let qURL = directory.appendingPathComponent(qFile)
        let qt = try BinaryFormat.decodeTensors(try readBytes(qURL), path: qURL.path)
        var ct: [String: Tensor]? = nil
        if let cFile = manifest.candidateTower.weightsFile {
            let u = directory.appendingPathComponent(cFile)
            ct = try BinaryFormat.decodeTensors(try readBytes(u), path: u.path)
        }
        let cURL = directory.appendingPathComponent(manifest.candidates.embeddingsFile)
        let (emb, n, d) = try BinaryFormat.decodeCandidates(try readBytes(cURL), path: cURL.path)
        let ids = try decodeJSON([String].self, directory.appendingPathComponent(manifest.candidates.idsFile))
        var popularity: [Float]? = nil
        if let coldStart = manifest.coldStart {
            let u = directory.appendingPathComponent(coldStart.popularityFile)
            guard let counts = try BinaryFormat.decodeTensors(try readBytes(u), path: u.path)[popularityTensor] else {
                throw .corruptFile(path: u.path, reason: "no tensor '\(popularityTensor)'")
            }
            guard counts.shape.count == 1 else {
                throw .shapeMismatch("\(coldStart.popularityFile) '\(popularityTensor)' has shape \(counts.shape), expected one dimension")
            }
            popularity = counts.data
        }
        let bundle = ModelBundle(
            manifest: manifest, preprocessing: pre, queryTower: qt, candidateTower: ct,
            candidateEmbeddings: emb, candidateIds: ids, candidatePopularity: popularity)
        guard n == manifest.candidates.count, d == manifest.candidates.dim else {
            throw .shapeMismatch("\(cURL.lastPathComponent) is \(n)×\(d) but manifest says \(manifest.candidates.count)×\(manifest.candidates.dim)")
        }
        try bundle.validate()
        return bundle
    }

    /// Structural checks: transforms, tensor shapes, candidate counts.
    public func validate() throws(BundleError) {
        for t in preprocessing.query + preprocessing.candidate { try t.validate() }
        let n = candidateIds.count, d = manifest.outputDim
        guard manifest.candidates.dim == d, manifest.queryTower.outputDim == d else {
            throw .shapeMismatch(
                "output_dim \(d) differs from candidates.dim \(manifest.candidates.dim) or query_tower.output_dim \(manifest.queryTower.outputDim)")
        }
        guard candidateEmbeddings.count == n * d else {
            throw .shapeMismatch("\(n) candidate ids but \(candidateEmbeddings.count / max(d, 1)) embedding rows")
        }
        guard Set(candidateIds).count == n else { throw .shapeMismatch("candidate_ids contains duplicates") }
        switch (manifest.coldStart, candidatePopularity) {
        case (nil, nil):
            break
        case (let coldStart?, let popularity?):
            guard popularity.count == n else {
                throw .shapeMismatch("\(coldStart.popularityFile) counts \(popularity.count) candidates, candidate_ids holds \(n)")
            }
            guard popularity.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw .shapeMismatch("\(coldStart.popularityFile) holds a negative or non-finite count")
            }
        case (_?, nil):
            throw .shapeMismatch("the manifest has a cold_start policy but the bundle has no candidate popularity")
        case (nil, _?):
            throw .shapeMismatch("the bundle has candidate popularity but the manifest has no cold_start policy")
        }
        _ = try TowerLayout(transforms: preprocessing.query, config: manifest.queryTower, tensors: queryTower, side: "query")
        if let ct = candidateTower {
            _ = try TowerLayout(transforms: preprocessing.candidate, config: manifest.candidateTower, tensors: ct, side: "candidate")
        }
    }

    /// Writes the bundle directory (created if needed; files overwritten).
    public func write(to directory: URL) throws(BundleError) {
        try validate()
        let fm = FileManager.default
        func put(_ data: Data, _ name: String) throws(BundleError) {
            let u = directory.appendingPathComponent(name)
            do { try data.write(to: u, options: .atomic) } catch {
                throw .writeFailed(path: u.path, reason: error.localizedDescription)
            }
        }
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw .writeFailed(path: directory.path, reason: error.localizedDescription)
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try put(try enc.encode(manifest), "manifest.json")
            try put(try enc.encode(preprocessing), manifest.preprocessingFile)
            try put(try JSONEncoder().encode(candidateIds), manifest.candidates.idsFile)
        } catch let e as BundleError { throw e } catch {
            throw .writeFailed(path: directory.path, reason: "\(error)")
        }
        func ordered(_ t: [String: Tensor]) -> [(name: String, tensor: Tensor)] {
            t.keys.sorted().map { ($0, t[$0]!) }
        }
        if let f = manifest.queryTower.weightsFile { try put(BinaryFormat.encodeTensors(ordered(queryTower)), f) }
        if let f = manifest.candidateTower.weightsFile, let ct = candidateTower {
            try put(BinaryFormat.encodeTensors(ordered(ct)), f)
        }
        try put(
            BinaryFormat.encodeCandidates(candidateEmbeddings, count: candidateIds.count, dim: manifest.outputDim),
            manifest.candidates.embeddingsFile)
        if let coldStart = manifest.coldStart, let popularity = candidatePopularity {
            let counts = Tensor(shape: [popularity.count], data: popularity)
            try put(BinaryFormat.encodeTensors([(Self.popularityTensor, counts)]), coldStart.popularityFile)
        }
    }
}

/// Checked view of a tower's tensors: embedding tables per table feature and the dense stack.
struct TowerLayout {
    var inputDim: Int
    var tables: [Tensor?]
    var kernels: [Tensor]
    var biases: [Tensor]

    init(transforms: [FeatureTransform], config: Manifest.TowerConfig, tensors: [String: Tensor], side: String) throws(BundleError) {
        var input = 0
        tables = []
        for t in transforms {
            if t.isTable {
                let name = "embedding/\(t.name)"
                guard let e = tensors[name] else { throw .shapeMismatch("\(side) tower has no tensor '\(name)'") }
                guard e.shape == [t.tableRows, t.inputWidth] else {
                    throw .shapeMismatch("\(side) '\(name)' has shape \(e.shape), expected [\(t.tableRows), \(t.inputWidth)]")
                }
                tables.append(e)
            } else {
                tables.append(nil)
            }
            input += t.inputWidth
        }
        inputDim = input
        kernels = []; biases = []
        let sizes = [input] + config.layers + [config.outputDim]
        for i in 0..<(sizes.count - 1) {
            guard let k = tensors["dense_\(i)/kernel"], let b = tensors["dense_\(i)/bias"] else {
                throw .shapeMismatch("\(side) tower is missing dense_\(i)/kernel or dense_\(i)/bias")
            }
            guard k.shape == [sizes[i], sizes[i + 1]], b.shape == [sizes[i + 1]] else {
                throw .shapeMismatch("\(side) dense_\(i) has kernel \(k.shape) bias \(b.shape), expected [\(sizes[i]), \(sizes[i + 1])]")
            }
            kernels.append(k); biases.append(b)
        }
    }
}
