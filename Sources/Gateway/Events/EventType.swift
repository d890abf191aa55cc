/// Every event type a webhook can receive, as the envelope's `type` names it. The `webhooks`
/// section of `openapi.yaml` describes each one's `data`, and a test keeps the two lists equal.
enum EventType: String, CaseIterable, Sendable {
    case messageReceived = "message.received"
    case messageSent = "message.sent"
    case messageFailed = "message.failed"
    case messageAck = "message.ack"
    case sessionStatus = "session.status"
    case sessionQR = "session.qr"
    case sessionAlert = "session.alert"
    case presenceUpdate = "presence.update"
    case webhookTest = "webhook.test"
    case webhookDisabled = "webhook.disabled"
    // The web engine's.
    case messageUndecryptable = "message.undecryptable"
    case sessionIdentityChanged = "session.identity_changed"
    case messageEdited = "message.edited"
    case messageRevoked = "message.revoked"
    case mediaFailed = "media.failed"
    case groupJoined = "group.joined"
    case groupLeft = "group.left"
    case groupParticipants = "group.participants"
    case groupUpdated = "group.updated"
    case messageReaction = "message.reaction"
    case pollVote = "poll.vote"
    case callReceived = "call.received"
    case callEnded = "call.ended"
}
