import TestingCore
import SlipwayPlatform

@main
struct TestingServiceMain {
    static func main() async throws {
        try await SlipwayServiceRunner.run(TestingService.definition)
    }
}
