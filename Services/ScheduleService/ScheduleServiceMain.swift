import ScheduleCore
import SlipwayPlatform

@main
struct ScheduleServiceMain {
    static func main() async throws {
        try await SlipwayServiceRunner.run(ScheduleService.definition)
    }
}
