import WhatsAppProtocol

/// Why the media of a send cannot be taken. The HTTP layer answers each as a problem about the
/// request's `mediaUrl` (``ProblemConvertible``).
enum MediaError: Error, Equatable {
    /// Larger than WhatsApp allows for the kind.
    case tooLarge(MediaKind)
    /// The download did not complete (connection, timeout, address refused on the way).
    case downloadFailed(String)
    /// The server answered, but not with a 2xx (`nil`: no status at all).
    case httpStatus(Int?)
    /// A content type WhatsApp does not take for the kind (empty: none declared).
    case unsupportedType(String, MediaKind)
    /// The downloaded file could not be written under `DATA_DIR/media`.
    case notStored
}
