import Metrics
import Outbox

/// Times every webhook attempt into ``WharfMetrics/attemptDuration``: the deliverer sends each
/// attempt through this sender once, so the histogram has one observation per attempt.
struct MeteredWebhookSender: WebhookSender {
    let sender: any WebhookSender
    let duration: Metrics.Timer

    func send(_ request: WebhookRequest) async -> WebhookResponse {
        let response = await sender.send(request)
        duration.record(duration: response.duration)
        return response
    }

    func shutdown() { sender.shutdown() }
}
