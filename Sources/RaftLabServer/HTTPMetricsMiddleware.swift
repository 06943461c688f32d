import Metrics
import Dispatch
import Hummingbird
import Synchronization

/// Counts requests and times them per route template, method and status,
/// through swift-metrics:
///
/// - `raftlab_http_requests_total{method, route, status}` (counter)
/// - `raftlab_http_request_duration_seconds{method, route, status}` (timer;
///   a Prometheus histogram with swift-prometheus's factory)
///
/// `route` is the template (`/tables/{table}/items`), never the raw path, so
/// clients cannot create unbounded label values; unmatched paths count as
/// `NotFound`. Must sit outside the error middleware so it sees final statuses.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let cache: HTTPMetricsCache

    init(factory: any MetricsFactory) {
        cache = HTTPMetricsCache(factory: factory)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request, context, status: status, start: start)
            throw error
        }
        record(request, context, status: response.status.code, start: start)
        return response
    }

    private func record(_ request: Request, _ context: Context, status: Int, start: UInt64) {
        let metrics = cache.metrics(
            for: .init(route: context.endpointPath ?? "NotFound", method: request.method.rawValue, status: status))
        metrics.requests.increment()
        metrics.duration.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- start))
    }
}

/// One counter and timer per label set, made once: the factory's lookup
/// takes a lock and builds label strings, which a hot path should not repeat.
final class HTTPMetricsCache: Sendable {
    struct Labels: Hashable, Sendable {
        var route: String
        var method: String
        var status: Int
    }

    struct Instruments: Sendable {
        var requests: Counter
        var duration: Timer
    }

    private let factory: any MetricsFactory
    private let storage = Mutex<[Labels: Instruments]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func metrics(for labels: Labels) -> Instruments {
        storage.withLock { storage in
            if let metrics = storage[labels] { return metrics }
            let dimensions = [("method", labels.method), ("route", labels.route), ("status", String(labels.status))]
            let metrics = Instruments(
                requests: Counter(label: "raftlab_http_requests_total", dimensions: dimensions, factory: factory),
                duration: Timer(
                    label: "raftlab_http_request_duration_seconds", dimensions: dimensions,
                    preferredDisplayUnit: .seconds, factory: factory))
            storage[labels] = metrics
            return metrics
        }
    }
}
