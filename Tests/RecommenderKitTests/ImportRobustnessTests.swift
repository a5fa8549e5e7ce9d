import Foundation
import SlipwayModelBundle
import Testing

@testable import RecommenderKit

/// Real files: junk in attribute columns is missing and counted, a few unusable transaction or attribute
/// rows are skipped and counted, and only more than `max_bad_row_fraction` of a file fails the load.
@Suite struct ImportRobustnessTests {
    /// `count` transactions over 10 customers and 8 products, one a day from 2025-01-01; `broken` maps a row
    /// number (0-based) to the line written instead.
    func transactions(_ count: Int, broken: [Int: String] = [:]) -> String {
        var text = "customer_id,product_id,revenue,timestamp\n"
        for i in 0..<count {
            text += broken[i] ?? "c\(i % 10),p\(i % 8),\(i % 5 + 1),\(Timestamp.format(1_735_689_600 + Double(i) * 3600))"
            text += "\n"
        }
        return text
    }

    @Test func junkInAttributeColumnsIsMissingAndCounted() throws {
        let d = tmp()
        let tx = try write(transactions(400), "tx.csv", in: d)
        // MovieLens writes one year `unkonwn`; another file has a price `n/a` and an age `forty`.
        let products = try write(
            "product_id,year,price\np0,1995,3.5\np1,unkonwn,4\np2,1990,n/a\np3,1991,2\np4,1992,7\np5,,1\np6,1993,2.5\np7,1994,9\n",
            "items.csv", in: d)
        let customers = try write(
            "customer_id,age\n" + (0..<10).map { "c\($0),\($0 == 3 ? "forty" : String(20 + $0))" }.joined(separator: "\n"), "c.csv", in: d)
        var split = SplitSpec(strategy: .random)
        split.testFraction = 0.2
        var mc = ModelConfig()
        mc.epochs = 1; mc.batchSize = 32; mc.queryLayers = [8]; mc.candidateLayers = [8]; mc.outputDim = 8
        let features = FeatureConfig(
            query: [FeatureSpec(name: "customer_id", embeddingDim: 8, required: true), FeatureSpec(name: "age", type: .int)],
            candidate: [
                FeatureSpec(name: "product_id", embeddingDim: 8, required: true),
                FeatureSpec(name: "year", type: .int, transform: .bucketize, embeddingDim: 4, buckets: 3),
                FeatureSpec(name: "price", type: .float),
            ])
        let spec = RunSpec(
            runId: "tr-junk", dataset: DatasetSpec(transactions: tx, customers: customers, products: products, split: split),
            featureConfig: features, modelConfig: mc, evaluator: EvaluatorConfig(enabled: false))
        var events: [JSONValue] = []
        let result = TrainingPipeline(spec: spec, artifacts: d.appendingPathComponent("artifacts")) { events.append($0) }.run()
        #expect(result != nil, "the run trains: \(events.last?.serialized() ?? "")")

        let statistics = try #require(events.first { $0["event"]?.stringValue == "statistics" })
        guard case .array(let columns)? = statistics["features"] else { Issue.record("no features"); return }
        func column(_ name: String) -> JSONValue? { columns.first { $0["name"]?.stringValue == name } }
        let year = try #require(column("year"))
        #expect(year["type"]?.stringValue == "numeric", "one junk value does not make the column categorical")
        #expect(year["unparseable_rows"]?.doubleValue == 1 && year["unparseable_examples"]?.doubleValue == 50)
        #expect(year["first_unparseable"]?["value"]?.stringValue == "unkonwn")
        #expect(year["first_unparseable"]?["row"]?.stringValue == "\(products):3")
        #expect(year["missing_pct"]?.doubleValue == 25, "p1 (unparseable) and p5 (empty) are 100 of 400 examples")
        #expect(column("price")?["first_unparseable"]?["row"]?.stringValue == "\(products):4")
        #expect(column("age")?["first_unparseable"]?["value"]?.stringValue == "forty")
        #expect(column("product_id")?["unparseable_rows"] == nil)

        let schema = try #require(events.first { $0["event"]?.stringValue == "schema" })
        guard case .array(let anomalies)? = schema["anomalies"] else { Issue.record("no anomalies"); return }
        let yearAnomaly = try #require(anomalies.first { $0["feature"]?.stringValue == "year" })
        #expect(yearAnomaly["kind"]?.stringValue == "unparseable_values" && yearAnomaly["count"]?.doubleValue == 1)
        #expect(yearAnomaly["example_value"]?.stringValue == "unkonwn")
        #expect(Set(anomalies.compactMap { $0["feature"]?.stringValue }) == ["year", "price", "age"])

        let stats = try #require(events.first { $0["event"]?.stringValue == "stage_completed" && $0["stage"]?.stringValue == "stats" })
        #expect(stats["details"]?["unparseable_rows.products.year"]?.doubleValue == 1)
        #expect(stats["details"]?["unparseable_rows.customers.age"]?.doubleValue == 1)
    }

    /// A junk value encodes as an empty cell does, for every transform kind a numeric feature can have.
    @Test(arguments: [FeatureTransform.Kind.normalize, .bucketize, .vocabulary])
    func junkEncodesAsMissing(kind: FeatureTransform.Kind) throws {
        let d = tmp()
        let tx = try write("customer_id,product_id\nc1,p1\nc2,p2\nc3,p3\n", "tx.csv", in: d)
        let products = try write("product_id,price\np1,2.5\np2,cheap\np3,\n", "p.csv", in: d)
        let ds = try DatasetLoader.load(DatasetSpec(transactions: tx, products: products))
        let config = FeatureConfig(
            query: [FeatureSpec(name: "customer_id")],
            candidate: [FeatureSpec(name: "product_id"), FeatureSpec(name: "price", type: .float, transform: kind)])
        let pipeline = try FeaturePipeline.fit(config: config, dataset: ds, trainRows: [0, 1, 2])
        let encoded = try pipeline.encodeCandidates(config: config, dataset: ds)
        if kind == .normalize {
            #expect(encoded.dense[1] == encoded.dense[2] && encoded.dense[1] == 0)
        } else {
            #expect(encoded.tableIndex[1 * 2 + 1] == encoded.tableIndex[2 * 2 + 1], "the junk price takes the missing row")
        }
    }

    /// A required feature has no missing value to fall back on: the run fails, naming the value and its row.
    @Test func junkInARequiredFeatureFailsNamingTheRow() throws {
        let d = tmp()
        let tx = try write("customer_id,product_id\nc1,p1\nc2,p2\n", "tx.csv", in: d)
        let products = try write("product_id,year\np1,1999\np2,unkonwn\n", "p.csv", in: d)
        let ds = try DatasetLoader.load(DatasetSpec(transactions: tx, products: products))
        let config = FeatureConfig(
            query: [FeatureSpec(name: "customer_id")],
            candidate: [FeatureSpec(name: "product_id"), FeatureSpec(name: "year", type: .int, required: true)])
        #expect(throws: FeatureError.badValue(feature: "year", value: "unkonwn", type: .int, location: "\(products):3")) {
            try FeaturePipeline.fit(config: config, dataset: ds, trainRows: [0, 1])
        }
    }

    @Test func fivePercentBrokenKeyRowsFailNamingTheFirst() throws {
        let d = tmp()
        let broken = [
            7: "c1,p1,2,yesterday", 20: ",p2,1,2025-01-02", 40: "c3,p3,\"unterminated,1,2025-01-03", 60: "c4,p4,1",
            80: "c5,p5,lots,2025-01-04",
        ]
        let tx = try write(transactions(100, broken: broken), "tx.csv", in: d)
        do { _ = try DatasetLoader.load(DatasetSpec(transactions: tx)); Issue.record("expected error") } catch {
            let message = error.description
            #expect(message.contains("5 of 100 transactions rows"), "\(message)")
            #expect(
                message.contains("\(tx):9: column 'timestamp': 'yesterday' is not an ISO-8601 date/time"), "the first bad row, line 9: \(message)")
            #expect(message.contains("1 unparseable_value timestamp") && message.contains("1 empty_value customer_id"), "\(message)")
            #expect(message.contains("2 malformed_line") && message.contains("1 unparseable_value revenue"), "\(message)")
            #expect(message.contains("max_bad_row_fraction 0.01"), "\(message)")
        }
    }

    @Test func halfAPercentBrokenRowsLoadAndAreReported() throws {
        let d = tmp()
        let tx = try write(transactions(200, broken: [150: "c1,p1,2,not a date"]), "tx.csv", in: d)
        var split = SplitSpec(strategy: .random)
        split.testFraction = 0.2
        let ds = try DatasetLoader.load(DatasetSpec(transactions: tx, split: split))
        #expect(ds.interactions.count == 199 && ds.report["rows_read"] == 200)
        #expect(ds.report["skipped_rows.transactions"] == 1 && ds.report["skipped_rows.transactions.unparseable_value.timestamp"] == 1)

        let statistics = DataStatistics.compute(ds, split: try Splitter.split(ds, split), features: .b2bDefault).statistics
        guard case .array(let files)? = statistics["skipped_rows"], let file = files.first else { Issue.record("no skipped_rows"); return }
        #expect(file["file"]?.stringValue == "transactions" && file["rows_read"]?.doubleValue == 200 && file["skipped"]?.doubleValue == 1)
        #expect(file["first"]?["row"]?.stringValue == "\(tx):152" && file["first"]?["value"]?.stringValue == "not a date")
        guard case .array(let reasons)? = file["by_reason"] else { Issue.record("no by_reason"); return }
        #expect(reasons.count == 1 && reasons[0]["column"]?.stringValue == "timestamp")
    }

    /// Attribute files: an empty or repeated key skips the row (the first of a key wins), counted against the
    /// attribute file's own rows.
    @Test func attributeRowsWithEmptyOrDuplicateKeysAreSkipped() throws {
        let d = tmp()
        let tx = try write(transactions(50), "tx.csv", in: d)
        var rows = (0..<8).map { "p\($0),cat\($0)" }
        rows += (8..<200).map { "unused\($0),x" }
        rows[150] = ",orphan"
        rows[151] = "p2,second"
        let products = try write("product_id,category\n" + rows.joined(separator: "\n") + "\n", "p.csv", in: d)
        let ds = try DatasetLoader.load(DatasetSpec(transactions: tx, products: products))
        #expect(ds.report["skipped_rows.products"] == 2 && ds.report["skipped_rows.products.duplicate_key.product_id"] == 1)
        #expect(ds.report["skipped_rows.transactions"] == 0)
        #expect(ds.productAttributes["category"]?[Int(ds.productIds.firstIndex(of: "p2")!)] == "cat2", "the first row of a key is kept")

        let small = try write("product_id,category\np0,a\np1,b\np1,c\n", "small.csv", in: d)
        do { _ = try DatasetLoader.load(DatasetSpec(transactions: tx, products: small)); Issue.record("expected error") } catch {
            #expect(error.description.contains("\(small):4: column 'product_id': duplicate 'p1' (first at line 3)"), "\(error)")
            #expect(error.description.contains("1 of 3 products rows"), "\(error)")
        }
    }

    @Test func maxBadRowFractionIsConfigurableAndValidated() throws {
        let d = tmp()
        let tx = try write(transactions(20, broken: [3: ",p1,1,2025-01-01"]), "tx.csv", in: d)
        #expect(throws: DatasetError.self) { try DatasetLoader.load(DatasetSpec(transactions: tx)) }
        #expect(try DatasetLoader.load(DatasetSpec(transactions: tx, maxBadRowFraction: 0.05)).interactions.count == 19)
        #expect(throws: DatasetError.self) { try DatasetLoader.load(DatasetSpec(transactions: tx, maxBadRowFraction: 0)) }
        for bad in [-0.1, 1.5, Double.nan] {
            do { _ = try DatasetLoader.load(DatasetSpec(transactions: tx, maxBadRowFraction: bad)); Issue.record("expected error") } catch {
                #expect(error == .invalidOption("max_bad_row_fraction must be in [0, 1], got \(bad)"))
            }
        }
        let spec = try RunSpec.decoder().decode(RunSpec.self, from: Data(#"{"dataset":{"transactions":"t","max_bad_row_fraction":0.2}}"#.utf8))
        #expect(spec.dataset.maxBadRowFraction == 0.2)
        let encoded = String(decoding: try RunSpec.encoder().encode(spec), as: UTF8.self)
        #expect(encoded.contains("\"max_bad_row_fraction\" : 0.2"))
    }
}
