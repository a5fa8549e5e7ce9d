import NIOCore
import NIOHTTP1

/// Assembles one HTTP/1 request from NIO's server pipeline parts: the head, and the body up to a limit.
/// Past the limit the body is dropped and the request marked too large, so the handler answers 413 without
/// holding the bytes. Used by the servers that run on SwiftNIO directly (model-server, serving-router).
public struct HTTPRequestAssembler {
    public struct Request {
        public let head: HTTPRequestHead
        public let body: ByteBuffer?
        public let tooLarge: Bool
    }

    public let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false

    public init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    /// Takes one part; returns the whole request when its end arrives.
    public mutating func add(_ part: HTTPServerRequestPart) -> Request? {
        switch part {
        case .head(let requestHead):
            head = requestHead
            body = nil
            tooLarge = false
            return nil
        case .body(var chunk):
            guard !tooLarge else { return nil }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBodyBytes {
                tooLarge = true
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
            return nil
        case .end:
            guard let requestHead = head else { return nil }
            defer { head = nil; body = nil; tooLarge = false }
            return Request(head: requestHead, body: body, tooLarge: tooLarge)
        }
    }
}
