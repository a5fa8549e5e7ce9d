import Foundation
import SlipwayModelBundle

/// Settings of the synthetic B2B data set.
public struct DemoDataConfig: Sendable, Equatable {
    public var customers = 5_000
    public var products = 2_000
    public var transactions = 200_000
    public var seed: UInt64 = 42
    public var categories = 12
    public var subCategoriesPerCategory = 5
    public var cities = 15
    /// First day of the generated year (epoch seconds, UTC).
    public var startSeconds: Double = Double(Timestamp.daysFromCivil(year: 2025, month: 1, day: 1)) * 86400
    public var days = 365
    /// Zipf exponent of the product popularity (higher = stronger skew).
    public var popularitySkew = 0.5
    /// Probability a purchase repeats an item already bought.
    public var repeatProbability = 0.25
    /// Probability a purchase is a different item of a sub-category already bought.
    public var relatedProbability = 0.3
    /// Dirichlet concentration of each customer's own category taste (smaller = more focused).
    public var ownTasteConcentration = 0.1
    /// Weight of the customer's own taste vs. its segment (the rest: 75% segment, 25% city).
    public var ownTasteWeight = 0.6
    public init() {}
    public init(customers: Int, products: Int, transactions: Int, seed: UInt64) {
        self.customers = customers; self.products = products; self.transactions = transactions; self.seed = seed
    }
}

public struct DemoCustomer: Sendable, Equatable { public var id, city, segment: String }
public struct DemoProduct: Sendable, Equatable { public var id, category, subCategory: String; public var price: Double }
public struct DemoTransaction: Sendable, Equatable {
    public var customer: Int32, product: Int32
    public var revenue: Double, timestamp: Double
}

public struct DemoData: Sendable, Equatable {
    public var customers: [DemoCustomer]
    public var products: [DemoProduct]
    /// Sorted by timestamp.
    public var transactions: [DemoTransaction]
}

/// Synthetic B2B purchases with planted structure.
///
/// - Each customer has a taste over categories mixed from its segment (strong), its city (weak) and
///   itself (Dirichlet noise), and a per-category preference over sub-categories (segment + own).
/// - A purchase repeats an earlier item (`repeatProbability`), buys a related item of an already
///   bought sub-category (`relatedProbability`), or draws category → sub-category → product.
/// - Products inside a sub-category follow a Zipf popularity (`popularitySkew`), so popularity is a
///   fair but beatable baseline. Everything is deterministic for a given seed.
public enum DemoDataGenerator {
    static let categoryNames = [
        "Beverages", "Dairy", "Bakery", "Produce", "Meat", "Seafood", "Frozen", "Snacks",
        "Cleaning", "Paper", "Office", "Packaging", "Hygiene", "Tools", "Electrical", "Safety",
    ]
    static let cityNames = [
        "Warsaw", "Krakow", "Lodz", "Wroclaw", "Poznan", "Gdansk", "Szczecin", "Bydgoszcz", "Lublin",
        "Bialystok", "Katowice", "Gdynia", "Czestochowa", "Radom", "Torun", "Kielce", "Rzeszow",
        "Gliwice", "Zabrze", "Olsztyn",
    ]
    static let segments = ["enterprise", "mid_market", "small_business", "horeca"]
    static let segmentShare = [0.12, 0.23, 0.45, 0.20]

    public static func generate(_ cfg: DemoDataConfig) -> DemoData {
        precondition(cfg.customers > 0 && cfg.products > 0 && cfg.transactions >= 0)
        var rng = SeededRandom(seed: cfg.seed)
        let nCat = max(1, cfg.categories), nSub = max(1, cfg.subCategoriesPerCategory)
        let nCity = max(1, cfg.cities)
        func catName(_ c: Int) -> String {
            c < categoryNames.count ? categoryNames[c] : "Category\(c)"
        }
        func cityName(_ c: Int) -> String { c < cityNames.count ? cityNames[c] : "City\(c)" }

        // Products: sub-category, price, popularity rank.
        let basePrice = (0..<nCat).map { _ in exp(2 + 2.5 * rng.uniform()) }
        var products: [DemoProduct] = []
        var productSub: [Int] = []
        var bySub = [[Int]](repeating: [], count: nCat * nSub)
        for p in 0..<cfg.products {
            let sub = p < nCat * nSub ? p : rng.int(nCat * nSub)  // every sub-category gets at least one product
            let c = sub / nSub
            let price = (basePrice[c] * exp(0.5 * rng.normal()) * 100).rounded() / 100
            products.append(
                DemoProduct(
                    id: String(format: "P%06d", 100_000 + p * 7 + 3), category: catName(c),
                    subCategory: "\(catName(c)) \(sub % nSub + 1)", price: max(price, 0.5)))
            productSub.append(sub)
            bySub[sub].append(p)
        }
        var rank = Array(0..<cfg.products)
        for i in stride(from: rank.count - 1, to: 0, by: -1) { rank.swapAt(i, rng.int(i + 1)) }
        let popularity = rank.map { pow(Double($0 + 1), -cfg.popularitySkew) }
        let subSamplers = bySub.map { ps in DiscreteSampler(weights: ps.map { popularity[$0] }) }

        // Segment and city tastes.
        let segTaste = segments.map { _ in rng.dirichlet(0.35, count: nCat) }
        let segSub = segments.map { _ in (0..<nCat).map { _ in rng.dirichlet(0.6, count: nSub) } }
        let cityTaste = (0..<nCity).map { _ in rng.dirichlet(1.0, count: nCat) }
        let segSampler = DiscreteSampler(weights: segmentShare)
        let citySampler = DiscreteSampler(weights: (0..<nCity).map { 1 / Double($0 + 2) })

        var customers: [DemoCustomer] = []
        var catSamplers: [DiscreteSampler] = []
        var subPrefs: [[DiscreteSampler]] = []
        var activity: [Double] = []
        for i in 0..<cfg.customers {
            let s = segSampler.sample(&rng), city = citySampler.sample(&rng)
            customers.append(DemoCustomer(id: String(format: "C%05d", 10_000 + i), city: cityName(city), segment: segments[s]))
            let own = rng.dirichlet(cfg.ownTasteConcentration, count: nCat)
            let wOwn = cfg.ownTasteWeight, wSeg = 0.75 * (1 - wOwn), wCity = 0.25 * (1 - wOwn)
            let taste = (0..<nCat).map { wSeg * segTaste[s][$0] + wCity * cityTaste[city][$0] + wOwn * own[$0] }
            catSamplers.append(DiscreteSampler(weights: taste))
            subPrefs.append(
                (0..<nCat).map { c in
                    let o = rng.dirichlet(0.2, count: nSub)
                    return DiscreteSampler(weights: (0..<nSub).map { 0.2 * segSub[s][c][$0] + 0.8 * o[$0] })
                })
            activity.append(exp(0.8 * rng.normal()) * (s == 0 ? 2 : 1))
        }

        // Transactions per customer.
        var counts = [Int](repeating: 0, count: cfg.customers)
        let actSampler = DiscreteSampler(weights: activity)
        for _ in 0..<cfg.transactions { counts[actSampler.sample(&rng)] += 1 }

        var tx: [DemoTransaction] = []
        tx.reserveCapacity(cfg.transactions)
        var history: [Int] = []
        for c in 0..<cfg.customers where counts[c] > 0 {
            history.removeAll(keepingCapacity: true)
            var times = (0..<counts[c]).map { _ in
                let day = Double(rng.int(cfg.days))
                return cfg.startSeconds + day * 86400 + Double(7 * 3600 + rng.int(11 * 3600))
            }
            times.sort()
            let seg = customers[c].segment
            let qScale = seg == "enterprise" ? 20.0 : seg == "mid_market" ? 8.0 : 3.0
            for t in times {
                let u = rng.uniform()
                let p: Int
                if !history.isEmpty && u < cfg.repeatProbability {
                    p = history[rng.int(history.count)]
                } else if !history.isEmpty && u < cfg.repeatProbability + cfg.relatedProbability {
                    let sub = productSub[history[rng.int(history.count)]]
                    p = bySub[sub][subSamplers[sub].sample(&rng)]
                } else {
                    let cat = catSamplers[c].sample(&rng)
                    let sub = cat * nSub + subPrefs[c][cat].sample(&rng)
                    p = bySub[sub][subSamplers[sub].sample(&rng)]
                }
                history.append(p)
                let qty = 1 + Double(Int(-log(max(rng.uniform(), 1e-12)) * qScale))
                let revenue = (products[p].price * qty * 100).rounded() / 100
                tx.append(DemoTransaction(customer: Int32(c), product: Int32(p), revenue: revenue, timestamp: t))
            }
        }
        tx.sort { ($0.timestamp, $0.customer, $0.product) < ($1.timestamp, $1.customer, $1.product) }
        return DemoData(customers: customers, products: products, transactions: tx)
    }

    /// Writes `customers.csv`, `products.csv` and `transactions.csv` into `directory`.
    @discardableResult
    public static func write(_ data: DemoData, to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var c = "customer_id,city,segment\n"
        for x in data.customers { c += "\(x.id),\(CSV.escape(x.city)),\(x.segment)\n" }
        var p = "product_id,category,sub_category,price\n"
        for x in data.products { p += "\(x.id),\(CSV.escape(x.category)),\(CSV.escape(x.subCategory)),\(String(format: "%.2f", x.price))\n" }
        var t = "customer_id,product_id,revenue,timestamp\n"
        t.reserveCapacity(data.transactions.count * 48)
        for x in data.transactions {
            t += data.customers[Int(x.customer)].id; t += ","
            t += data.products[Int(x.product)].id; t += ","
            t += String(format: "%.2f", x.revenue); t += ","
            t += Timestamp.format(x.timestamp); t += "\n"
        }
        let urls = ["customers.csv", "products.csv", "transactions.csv"].map { directory.appendingPathComponent($0) }
        try Data(c.utf8).write(to: urls[0])
        try Data(p.utf8).write(to: urls[1])
        try Data(t.utf8).write(to: urls[2])
        return urls
    }
}
