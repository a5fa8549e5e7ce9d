import SlipwayPlatform
import TestingCore

@main
struct TestingServiceMain {
    static func main() async throws {
        try await SlipwayServiceRunner.run(TestingService.definition())
    }
}
