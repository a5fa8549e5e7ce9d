import Foundation

/// Inline SVG line charts for the pages: several named series over one x axis, a few tick labels, a legend, and a
/// text alternative. Colours are CSS classes (`.chart .s0` …) whose values are the style sheet's variables, so the
/// dark theme applies. A long series is downsampled before it is drawn: a month of minute metrics is 43,200 points,
/// far more than a chart's width can show.
enum Charts {
    struct Point: Equatable {
        var x: Double
        var y: Double
    }

    struct Series {
        var name: String
        var points: [Point]
    }

    /// How an axis writes its values: `format` for the tick labels, `integral` when only whole numbers are meaningful
    /// (epochs). `span` fixes what the axis covers whatever the data (a time window: a lone point is drawn where it
    /// falls in it); `fromZero` starts it at zero (counts, latencies: a flat line of 3 ms is not drawn at the bottom).
    struct Axis {
        var label: String
        var format: (Double) -> String = Charts.number
        var integral = false
        var span: ClosedRange<Double>? = nil
        var fromZero = false
        /// The distances ticks may be apart, smallest first (a time axis: whole minutes and hours); nil: 1, 2 or 5
        /// times a power of ten.
        var tickSteps: [Double]? = nil

        /// Seconds since 1970 as times of day.
        static func time(_ span: ClosedRange<Double>, format: @escaping (Double) -> String) -> Axis {
            Axis(label: "UTC", format: format, span: span, tickSteps: [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400])
        }

        /// The values the axis covers for `values`: its fixed span, or theirs (from zero when asked).
        func covering(_ values: [Double]) -> ClosedRange<Double>? {
            if let span { return span }
            guard let low = values.min(), let high = values.max() else { return nil }
            if fromZero, low >= 0 { return high > 0 ? 0...high : 0...1 }
            return Charts.range(values)
        }
    }

    /// How many series colours the style sheet defines (`--series-0` …).
    static let palette = 6

    /// At most `limit` points of `points` (sorted by x), keeping in each bucket of consecutive points its lowest and its
    /// highest, in x order: a spike survives however long the series. Points with a non-finite coordinate are dropped.
    static func downsample(_ points: [Point], to limit: Int) -> [Point] {
        let finite = points.filter { $0.x.isFinite && $0.y.isFinite }
        let limit = max(2, limit)
        guard finite.count > limit else { return finite }
        let buckets = limit / 2
        var kept: [Point] = []
        kept.reserveCapacity(buckets * 2)
        for bucket in 0..<buckets {
            let slice = finite[(bucket * finite.count / buckets)..<((bucket + 1) * finite.count / buckets)]
            guard let low = slice.indices.min(by: { finite[$0].y < finite[$1].y }),
                let high = slice.indices.max(by: { finite[$0].y < finite[$1].y })
            else { continue }
            for index in Set([low, high]).sorted() { kept.append(finite[index]) }
        }
        return kept
    }

    /// A line chart as a `<figure>`: the title, the SVG (`role="img"` with a summary as its label), and the legend as
    /// text. Empty data says so in the same frame; a single point is drawn as a dot.
    static func line(title: String, series: [Series], x: Axis, y: Axis, maxPoints: Int = 600) -> String {
        let drawn = series.map { Series(name: $0.name, points: downsample($0.points, to: maxPoints)) }
        let all = drawn.flatMap(\.points)
        let (width, height) = (640.0, 240.0)
        let (left, right, top, bottom) = (56.0, 12.0, 10.0, 36.0)
        let caption = "<figcaption>\(HTML.escape(title))</figcaption>"
        guard !all.isEmpty, let xs = x.covering(all.map(\.x)), let ys = y.covering(all.map(\.y)) else {
            return """
                <figure class="chart">\(caption)<svg viewBox="0 0 \(Int(width)) \(Int(height / 2))" role="img" \
                aria-label="\(HTML.escape(title)): no data yet"><title>\(HTML.escape(title)): no data yet</title>\
                <text class="empty" x="\(Int(width / 2))" y="\(Int(height / 4))" text-anchor="middle">No data yet</text></svg></figure>
                """
        }
        let xTicks = ticks(xs, integral: x.integral, steps: x.tickSteps)
        let yTicks = ticks(ys, integral: y.integral, steps: y.tickSteps)
        let xSpan = (xTicks.first ?? xs.lowerBound)...(xTicks.last ?? xs.upperBound)
        let ySpan = (yTicks.first ?? ys.lowerBound)...(yTicks.last ?? ys.upperBound)
        func px(_ value: Double) -> Double { left + (value - xSpan.lowerBound) / span(of: xSpan) * (width - left - right) }
        func py(_ value: Double) -> Double { height - bottom - (value - ySpan.lowerBound) / span(of: ySpan) * (height - top - bottom) }
        func coordinate(_ value: Double) -> String { String(format: "%.1f", value) }

        var svg = ""
        for tick in yTicks {
            let at = coordinate(py(tick))
            svg += #"<line class="grid" x1="\#(Int(left))" x2="\#(Int(width - right))" y1="\#(at)" y2="\#(at)"/>"#
            svg += #"<text x="\#(Int(left) - 6)" y="\#(at)" text-anchor="end" dominant-baseline="middle">\#(HTML.escape(y.format(tick)))</text>"#
        }
        for tick in xTicks {
            let at = coordinate(px(tick))
            svg += #"<line class="axis" x1="\#(at)" x2="\#(at)" y1="\#(Int(height - bottom))" y2="\#(Int(height - bottom) + 4)"/>"#
            svg += #"<text x="\#(at)" y="\#(Int(height - bottom) + 16)" text-anchor="middle">\#(HTML.escape(x.format(tick)))</text>"#
        }
        svg += #"<line class="axis" x1="\#(Int(left))" x2="\#(Int(width - right))" y1="\#(Int(height - bottom))" y2="\#(Int(height - bottom))"/>"#
        svg += #"<text x="\#(Int(width - right))" y="\#(Int(height) - 4)" text-anchor="end">\#(HTML.escape(x.label))</text>"#
        for (index, one) in drawn.enumerated() where !one.points.isEmpty {
            let colour = "s\(index % palette)"
            let path = one.points.map { "\(coordinate(px($0.x))),\(coordinate(py($0.y)))" }.joined(separator: " ")
            svg += #"<polyline class="line \#(colour)" points="\#(path)"/>"#
            // A few points are easier to read with their dots; a lone point has nothing else to show it.
            if one.points.count <= 40 {
                svg += one.points.map { #"<circle class="dot \#(colour)" cx="\#(coordinate(px($0.x)))" cy="\#(coordinate(py($0.y)))" r="3"/>"# }
                    .joined()
            }
        }
        let legend = drawn.enumerated().map { index, one in
            #"<li><span class="swatch s\#(index % palette)" aria-hidden="true"></span>\#(HTML.escape(one.name))</li>"#
        }.joined()
        let summary =
            "\(title): "
            + drawn.map { one in
                guard let low = one.points.map(\.y).min(), let high = one.points.map(\.y).max() else { return "\(one.name) no data" }
                return "\(one.name) between \(y.format(low)) and \(y.format(high))"
            }.joined(separator: "; ") + " over \(x.label) \(x.format(all.map(\.x).min() ?? 0)) to \(x.format(all.map(\.x).max() ?? 0))"
        return """
            <figure class="chart">\(caption)<svg viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-label="\(HTML.escape(summary))">\
            <title>\(HTML.escape(summary))</title>\(svg)</svg><ul class="legend">\(legend)</ul></figure>
            """
    }

    /// The smallest and largest of `values`, widened when they are equal so that the chart has a span to draw in.
    static func range(_ values: [Double]) -> ClosedRange<Double>? {
        guard let low = values.min(), let high = values.max() else { return nil }
        if low < high { return low...high }
        let pad = low == 0 ? 1 : abs(low) * 0.1
        return (low - pad)...(high + pad)
    }

    static func span(of range: ClosedRange<Double>) -> Double { max(range.upperBound - range.lowerBound, .leastNormalMagnitude) }

    /// About five round tick values covering `range` (1, 2 or 5 times a power of ten apart, or the first of `steps`
    /// wide enough; whole numbers when `integral`).
    static func ticks(_ range: ClosedRange<Double>, integral: Bool, steps: [Double]? = nil) -> [Double] {
        let raw = span(of: range) / 4
        let magnitude = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        if let steps, let last = steps.last { step = steps.first { $0 >= raw } ?? (raw / last).rounded(.up) * last }
        if integral { step = max(1, step.rounded(.up)) }
        guard step.isFinite, step > 0 else { return [range.lowerBound, range.upperBound] }
        let first = (range.lowerBound / step).rounded(.down)
        let last = (range.upperBound / step).rounded(.up)
        guard last - first <= 20 else { return [range.lowerBound, range.upperBound] }
        // `+ 0` writes a tick at -0.0 as 0.
        return stride(from: first, through: last, by: 1).map { $0 * step + 0 }
    }

    /// A tick or summary value in a few characters: 0.0421, 3.5, 1200, 1.2M.
    static func number(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1_000_000 { return String(format: "%.3gM", value / 1_000_000) }
        if magnitude >= 10_000 { return String(format: "%.3gk", value / 1000) }
        if magnitude >= 1 || magnitude == 0 { return String(format: "%.4g", value) }
        return String(format: "%.3g", value)
    }
}
