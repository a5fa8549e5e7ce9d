import SlipwayPlatform
import TrainingCore

@main
struct TrainingServiceMain {
    static func main() async throws {
        try await SlipwayServiceRunner.run(TrainingService.definition())
    }
}
