import MetricsCore
import SlipwayPlatform

@main
struct MetricsServiceMain {
    static func main() async throws {
        try await SlipwayServiceRunner.run(MetricsService.definition)
    }
}
